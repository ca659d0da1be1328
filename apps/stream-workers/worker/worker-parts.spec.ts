import { jest, describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { PeriodicJobs } from './periodic-jobs.js';
import { SETTLE_RETRY_EVERY_MS, SETTLE_RETRY_FOR_MS, SettleRetries } from './settle-retries.js';

const T0 = Date.parse('2030-01-01T12:00:00.000Z');

describe('SettleRetries', () => {
  beforeEach(() => void jest.useFakeTimers({ now: T0 }));
  afterEach(() => void jest.useRealTimers());

  it('retries a user refused while settling until their manager runs, keeping when they joined', async () => {
    let running = false;
    const attempt = jest.fn(async (_userId: string) => {});
    const retries = new SettleRetries(attempt, () => running, () => false);
    retries.wait('alice', T0 - 50);
    expect(retries.joinedAt('alice')).toBe(T0 - 50);
    await jest.advanceTimersByTimeAsync(SETTLE_RETRY_EVERY_MS);
    expect(attempt).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(SETTLE_RETRY_EVERY_MS);
    expect(attempt).toHaveBeenCalledTimes(2);
    running = true;
    retries.done('alice');
    await jest.advanceTimersByTimeAsync(10 * SETTLE_RETRY_EVERY_MS);
    expect(attempt).toHaveBeenCalledTimes(2);
    expect(retries.joinedAt('alice')).toBeUndefined();
  });

  it('a second refusal of a waiting user starts no second retry loop', async () => {
    const attempt = jest.fn(async (_userId: string) => {});
    const retries = new SettleRetries(attempt, () => false, () => false);
    retries.wait('alice', T0);
    retries.wait('alice', T0);
    await jest.advanceTimersByTimeAsync(SETTLE_RETRY_EVERY_MS);
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('gives up SETTLE_RETRY_FOR_MS after the join, and at once when the worker stops', async () => {
    const attempt = jest.fn(async (_userId: string) => {});
    let closed = false;
    const retries = new SettleRetries(attempt, () => false, () => closed);
    retries.wait('alice', T0);
    await jest.advanceTimersByTimeAsync(SETTLE_RETRY_FOR_MS + 5 * SETTLE_RETRY_EVERY_MS);
    expect(retries.joinedAt('alice')).toBeUndefined();
    const n = attempt.mock.calls.length;
    await jest.advanceTimersByTimeAsync(10 * SETTLE_RETRY_EVERY_MS);
    expect(attempt).toHaveBeenCalledTimes(n);

    retries.wait('bob', Date.now());
    closed = true;
    await jest.advanceTimersByTimeAsync(10 * SETTLE_RETRY_EVERY_MS);
    expect(attempt.mock.calls.filter((c) => c[0] === 'bob')).toEqual([]);
  });
});

describe('PeriodicJobs', () => {
  beforeEach(() => void jest.useFakeTimers({ now: T0 }));
  afterEach(() => void jest.useRealTimers());

  it('skips a turn while the job is still in flight, and runs nothing while it may not', async () => {
    let canRun = true;
    const errors: string[] = [];
    const jobs = new PeriodicJobs(() => canRun, (name) => errors.push(name));
    let release!: () => void;
    const fn = jest.fn(() => new Promise<void>((r) => (release = r)));
    jobs.every('renew', 100, fn);
    await jest.advanceTimersByTimeAsync(300);
    expect(fn).toHaveBeenCalledTimes(1);
    release();
    await jest.advanceTimersByTimeAsync(100);
    expect(fn).toHaveBeenCalledTimes(2);
    release();
    canRun = false;
    await jest.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(2);
    await jobs.now('broken', async () => Promise.reject(new Error('x')));
    canRun = true;
    await jobs.now('broken', async () => Promise.reject(new Error('x')));
    expect(errors).toEqual(['broken']);
    jobs.stop();
    await jest.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});
