/** Reads the Prometheus text format the apps serve on /metrics (enough of it for the bench). */

export type Samples = Map<string, number>;

/** `name{a="x",b="y"} 12` lines -> Map('name{a="x",b="y"}' -> 12); comments and bad lines skipped. */
export function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    // The value is the last field unless a timestamp follows it; labels may contain spaces.
    const close = line.lastIndexOf('}');
    const head = close >= 0 ? line.slice(0, close + 1) : line.split(/\s+/)[0];
    const rest = line.slice(head.length).trim().split(/\s+/);
    const value = Number(rest[0]);
    if (!head || rest[0] === undefined || rest[0] === '' || Number.isNaN(value)) continue;
    out.set(head, value);
  }
  return out;
}

/** The labels of a series key: 'x{a="1",b="2"}' -> {a: '1', b: '2'}. */
export function labelsOf(key: string): Record<string, string> {
  const open = key.indexOf('{');
  if (open < 0) return {};
  const labels: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of key.slice(open + 1, -1).matchAll(re)) labels[m[1]] = m[2];
  return labels;
}

/** Sum of every series of a metric whose labels include `where`. */
export function sum(samples: Samples, name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of samples) {
    const base = key.includes('{') ? key.slice(0, key.indexOf('{')) : key;
    if (base !== name) continue;
    const labels = labelsOf(key);
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) total += value;
  }
  return total;
}

/**
 * The q-quantile of a Prometheus histogram (the series matching `where`, buckets summed), read as
 * Prometheus' histogram_quantile does: linear within the bucket it falls in. NaN when empty.
 */
export function histogramQuantile(samples: Samples, name: string, q: number, where: Record<string, string> = {}): number {
  const buckets = new Map<number, number>();
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}_bucket{`)) continue;
    const labels = labelsOf(key);
    if (!Object.entries(where).every(([k, v]) => labels[k] === v)) continue;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
