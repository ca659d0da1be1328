import { describe, expect, it } from '@jest/globals';
import { labelsOf, parseMetrics, sum, histogramQuantile } from './prom.js';

const TEXT = `# HELP presence_session_events_total x
# TYPE presence_session_events_total counter
presence_session_events_total{kind="joined",outcome="online"} 12
presence_session_events_total{kind="joined",outcome="none"} 3
presence_session_events_total{kind="left",outcome="scheduled"} 7
nodejs_eventloop_lag_p99_seconds 0.0123
weird{a="x y",b="q\\"z"} 5
broken_line
`;

describe('Prometheus text parsing', () => {
  const m = parseMetrics(TEXT);

  it('reads series with and without labels, skips comments and bad lines', () => {
    expect(m.get('nodejs_eventloop_lag_p99_seconds')).toBe(0.0123);
    expect(m.get('weird{a="x y",b="q\\"z"}')).toBe(5);
    expect(m.has('broken_line')).toBe(false);
  });

  it('sums a metric over the series matching some labels', () => {
    expect(sum(m, 'presence_session_events_total', { kind: 'joined' })).toBe(15);
    expect(sum(m, 'presence_session_events_total')).toBe(22);
    expect(sum(m, 'absent')).toBe(0);
  });

  it('labelsOf reads quoted values with spaces and escapes', () => {
    expect(labelsOf('weird{a="x y",b="q\\"z"}')).toEqual({ a: 'x y', b: 'q\\"z' });
    expect(labelsOf('plain')).toEqual({});
  });

  it('histogramQuantile interpolates within the bucket, per label set, like histogram_quantile', () => {
    const text = [
      'h_bucket{kind="left",le="0.1"} 10',
      'h_bucket{kind="left",le="1"} 90',
      'h_bucket{kind="left",le="+Inf"} 100',
      'h_bucket{kind="joined",le="0.1"} 0',
      'h_bucket{kind="joined",le="1"} 0',
      'h_bucket{kind="joined",le="+Inf"} 0',
    ].join('\n');
    const s = parseMetrics(text);
    expect(histogramQuantile(s, 'h', 0.5, { kind: 'left' })).toBeCloseTo(0.1 + (0.9 * 40) / 80);
    expect(histogramQuantile(s, 'h', 0.05, { kind: 'left' })).toBeCloseTo(0.05);
    // Beyond the last finite bucket: its bound, as Prometheus answers.
    expect(histogramQuantile(s, 'h', 0.99, { kind: 'left' })).toBe(1);
    expect(histogramQuantile(s, 'h', 0.5, { kind: 'joined' })).toBeNaN();
  });
});
