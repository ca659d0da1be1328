import { describe, expect, it } from '@jest/globals';
import { lineChart, logTicks, niceTicks, scale } from './svg.js';

describe('SVG chart scaling', () => {
  it('niceTicks covers the range with round steps', () => {
    expect(niceTicks(0, 1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0, 23)).toEqual([0, 5, 10, 15, 20, 25]);
    const t = niceTicks(0, 0.37);
    expect(t[0]).toBe(0);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(0.37);
  });

  it('logTicks spans the decades of the data', () => {
    expect(logTicks(0.8, 250)).toEqual([0.1, 1, 10, 100, 1000]);
    expect(logTicks(2, 80)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(3, 3000)[0]).toBe(1);
    expect(logTicks(3, 3000).at(-1)).toBe(10000);
  });

  it('scale maps the domain onto the range, inverted for a y axis', () => {
    const y = scale(0, 100, 400, 40);
    expect(y(0)).toBe(400);
    expect(y(100)).toBe(40);
    expect(y(50)).toBe(220);
  });

  it('draws one path per series inside the plot area, with its legend', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'a<b', color: 'red', points: [[0, 1], [100, 10], [50, NaN]] }],
      marks: [{ y: 5, label: 'five', color: 'grey' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a&lt;b');
    const d = /<path d="([^"]+)"/.exec(svg)![1];
    const coords = d.split(' ').map((p) => p.slice(1).split(',').map(Number));
    expect(coords).toHaveLength(2); // the NaN point is left out
    for (const [cx, cy] of coords) {
      expect(cx).toBeGreaterThanOrEqual(64);
      expect(cx).toBeLessThanOrEqual(720 - 180);
      expect(cy).toBeGreaterThanOrEqual(40);
      expect(cy).toBeLessThanOrEqual(420 - 52);
    }
    expect(coords[1][1]).toBeLessThan(coords[0][1]); // larger values are drawn higher
  });
});
