import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELP } from './options.js';
import { benchmarksPage, KEPT, writeBenchmarks } from './page.js';
import { againstNaive, markdown, type RunReport } from './report.js';
import type { RampStep } from './scenarios.js';

const latest = JSON.parse(readFileSync(join(process.cwd(), 'docs', 'bench-latest.json'), 'utf8')) as RunReport;

const step = (rate: number, p50: number, p99: number, cpu: Record<string, number>) =>
  ({ rate, first: { n: 100, p50, p99 }, cpuMsPerJoin: cpu }) as unknown as RampStep;

describe('againstNaive', () => {
  it('divides ours by the naive process at each rate both ran, CPU summed over the stack without the clients', () => {
    const r = {
      ramp: [step(100, 6, 30, { gateway: 1, presence: 0.5, 'stream-workers': 0.25, 'nats-server': 0.2, 'redis-server': 0.05, loadgen: 9 }), step(500, 9, 90, {})],
      naive: { ramp: [step(100, 2, 10, { naive: 0.5 })] },
    } as unknown as RunReport;
    expect(againstNaive(r).ramp).toEqual([['100', '3.00x (6.0 vs 2.0 ms)', '3.00x (30.0 vs 10.0 ms)', '4.00x (2.00 vs 0.50 ms)']]);
    expect(againstNaive(r).other).toEqual([]);
  });

  it('a saved full run gives a ratio row per ramp step, and the cleanup and memory ratios', () => {
    const { ramp, other } = againstNaive(latest);
    expect(ramp.map((row) => row[0])).toEqual(latest.ramp.map((s) => String(s.rate)));
    for (const row of ramp) for (const cell of row.slice(1)) expect(cell).toMatch(/^\d+\.\d\dx \(/);
    expect(other).toHaveLength(2);
  });
});

describe('the BENCHMARKS.md page', () => {
  const results = markdown(latest, 'bench-latency.svg');

  it('puts the method, every knob, then the ratios before the absolute figures', () => {
    const page = benchmarksPage(results, undefined);
    const at = (s: string) => page.indexOf(s);
    expect(at(HELP)).toBeGreaterThan(at('## How to reproduce'));
    expect(at('## What is measured, and why')).toBeLessThan(at('## How to reproduce'));
    expect(at('## How to reproduce')).toBeLessThan(at('## Current results'));
    expect(at('### Against the naive process')).toBeLessThan(at('### Absolute figures'));
    expect(at(`${KEPT}\n\n## Changelog`)).toBeGreaterThan(at('### Absolute figures'));
  });

  it('a run rewrites everything above the hand-written part and keeps that part as it was', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bench-page-')), 'BENCHMARKS.md');
    const kept = `${KEPT}\n\n## Changelog\n\n- **A change**: 3 -> 2 ms.\n`;
    writeFileSync(path, `# Old page\n\nold results\n\n${kept}`);
    writeBenchmarks(path, results);
    const page = readFileSync(path, 'utf8');
    expect(page.endsWith(kept)).toBe(true);
    expect(page).not.toContain('old results');
    expect(page).toContain(results.trim());
    writeBenchmarks(path, results);
    expect(readFileSync(path, 'utf8')).toBe(page);
  });
});
