import { describe, expect, it } from '@jest/globals';
import { percentile, ratio, summarize } from './stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose

  it('p50 and p99 of 1..100 are 50 and 99; the extremes are min and max', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it('a p99 of fewer than 100 samples is the largest one, never an interpolated value', () => {
    expect(percentile([3, 1, 2], 99)).toBe(3);
    expect(percentile([5, 1], 50)).toBe(1);
  });

  it('is NaN without samples and does not reorder its input', () => {
    expect(percentile([], 50)).toBeNaN();
    const input = [3, 1, 2];
    percentile(input, 50);
    expect(input).toEqual([3, 1, 2]);
  });

  it('summarize agrees with percentile', () => {
    const s = summarize(hundred);
    expect(s).toMatchObject({ n: 100, p50: 50, p90: 90, p99: 99, min: 1, max: 100, mean: 50.5 });
    expect(summarize([]).n).toBe(0);
  });

  it('ratio prints ours over the reference, and nothing for a missing reference', () => {
    expect(ratio(6, 3)).toBe('2.00x');
    expect(ratio(1, 0)).toBe('-');
    expect(ratio(NaN, 1)).toBe('-');
  });
});
