/** Pure helpers of the benchmark: percentiles and summaries of latency samples. */

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
  mean: number;
}

/**
 * The q-th percentile (0..100) by the nearest-rank method on a sorted copy: the smallest sample
 * with at least q% of the samples at or below it. NaN for no samples.
 */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return percentileOfSorted(sorted, q);
}

export function percentileOfSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  if (q <= 0) return sorted[0];
  if (q >= 100) return sorted[sorted.length - 1];
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)];
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: n ? sorted[n - 1] : NaN,
    min: n ? sorted[0] : NaN,
    mean: n ? sum / n : NaN,
  };
}

/** A number for a table: fixed decimals, '-' for NaN. */
export function fmt(v: number | undefined, digits = 1): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return String(v);
  return v.toFixed(digits);
}

/** ours / reference, as "3.2x"; '-' when either is missing. */
export function ratio(ours: number, reference: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(reference) || reference <= 0) return '-';
  return `${(ours / reference).toFixed(2)}x`;
}
