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

  it('a timer that fires while the clock is still short of its time waits for the rest (never early)', async () => {
    const run = jest.fn(async () => {});
    timers.arm('c1', T0 + 100, run);
    // The clock steps back after the timer was set: when it fires, Date.now() is 5 ms short.
    jest.setSystemTime(T0 - 5);
    await jest.advanceTimersByTimeAsync(100);
    expect(run).not.toHaveBeenCalled();
    expect(timers.isWatched('c1')).toBe(true);
    await jest.advanceTimersByTimeAsync(5);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('a cleanup is watched from its arming until its run settles', async () => {
    let settle!: () => void;
    timers.arm('c1', T0 + 10, () => new Promise<void>((r) => (settle = r)));
    expect(timers.isWatched('c1')).toBe(true);
    await jest.advanceTimersByTimeAsync(10);
    expect(timers.isWatched('c1')).toBe(true);
    settle();
    await jest.advanceTimersByTimeAsync(0);
    expect(timers.isWatched('c1')).toBe(false);
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
    expect(timers.isWatched('c2')).toBe(false);
  });
});
