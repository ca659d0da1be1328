import { jest, describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { DueTimers } from './due-timers.js';

const T0 = Date.parse('2030-01-01T12:00:00.000Z');

describe('DueTimers', () => {
  let timers: DueTimers;
  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    timers = new DueTimers();
  });
  afterEach(() => {
    timers.clear();
    jest.useRealTimers();
  });

  it('an entry lasts from its arming until its run settles', async () => {
    let settle!: () => void;
    timers.arm('c1', T0 + 10, () => new Promise<void>((r) => (settle = r)));
    expect(timers.has('c1')).toBe(true);
    await jest.advanceTimersByTimeAsync(10);
    expect(timers.has('c1')).toBe(true);
    settle();
    await jest.advanceTimersByTimeAsync(0);
    expect(timers.has('c1')).toBe(false);
  });

  it('arming again replaces the timer; disarming drops it', async () => {
    const first = jest.fn(async () => {});
    const second = jest.fn(async () => {});
    timers.arm('c1', T0 + 10, first);
    timers.arm('c1', T0 + 20, second);
    timers.arm('c2', T0 + 10, first);
    timers.disarm('c2');
    await jest.advanceTimersByTimeAsync(20);
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
    expect(timers.has('c2')).toBe(false);
  });

  it('a run that arms its own id again leaves the new timer armed when it settles', async () => {
    const later = jest.fn(async () => {});
    timers.arm('c1', T0 + 10, async () => timers.arm('c1', T0 + 50, later));
    await jest.advanceTimersByTimeAsync(10);
    expect(timers.has('c1')).toBe(true);
    await jest.advanceTimersByTimeAsync(40);
    expect(later).toHaveBeenCalledTimes(1);
    expect(timers.has('c1')).toBe(false);
  });
});
