import { sleep, until, type Stack } from '../support/harness.js';
import type { Injector } from './injector.js';
import type { Population } from './population.js';
import type { Violation } from './checker.js';

export interface RollingResult {
  restarted: string[];
  durationMs: number;
  violations: Violation[];
}

/**
 * Every app instance in turn stopped with SIGTERM and started again, the population holding
 * still: no manager may stop or start again, except a worker's graceful move of its managers
 * (stopped `handover`, started on the other worker, the count going on), and every tab must come
 * back by itself.
 */
export async function rollingRestart(stack: Stack, injector: Injector, pop: Population, graceMs: number, log: (line: string) => void): Promise<RollingResult> {
  const t0 = Date.now();
  const violations: Violation[] = [];
  const allBack = () => pop.tabs.every((t) => t.closedAt !== undefined || t.isConnected);
  await until('every tab connected before the rolling restart', allBack, 15_000).catch(() => undefined);
  // Holding still includes the cleanups of users whose last tab closed just before the pause:
  // their managers stop legitimately, so the window opens only once those have run.
  await sleep(graceMs + 1000);
  const mark = stack.observer.seen.length;
  const restarted: string[] = [];
  for (const app of [...stack.gateways, ...stack.presences, ...stack.workers]) {
    restarted.push(app.env.INSTANCE_ID);
    await injector.replace(app, 'SIGTERM');
    await until(`tabs back after ${app.env.INSTANCE_ID}`, allBack, 10_000).catch(() =>
      violations.push({ invariant: 'rolling restart: tabs reconnect', detail: `after ${app.env.INSTANCE_ID} some tabs did not come back` }),
    );
    await sleep(500);
  }
  await sleep(2000);
  const since = stack.observer.seen.slice(mark);
  for (const user of pop.users) {
    const mine = since.filter((s) => s.subject.split('.')[2] === user);
    const stops = mine.filter((s) => s.subject.endsWith('.stopped'));
    const starts = mine.filter((s) => s.subject === `stream.manager.${user}.started`);
    const moves = stops.filter((s) => s.data.reason === 'handover');
    for (const s of stops.filter((x) => x.data.reason !== 'handover')) violations.push({ invariant: 'rolling restart restarts no manager', user, detail: `stopped: ${JSON.stringify(s.data)}` });
    for (const s of mine.filter((x) => x.subject.endsWith('.offline'))) violations.push({ invariant: 'rolling restart restarts no manager', user, detail: `offline: ${JSON.stringify(s.data)}` });
    if (starts.length > moves.length) violations.push({ invariant: 'rolling restart restarts no manager', user, detail: `${starts.length} start(s) for ${moves.length} move(s)` });
    const ns = mine.filter((s) => s.subject === `stream.console.${user}.tick`).map((s) => Number(s.data.n));
    if (ns.some((n, i) => i > 0 && n !== ns[i - 1] + 1)) violations.push({ invariant: 'rolling restart: counts go on', user, detail: ns.join(',') });
  }
  log(`rolling restart of ${restarted.length} instances: ${violations.length === 0 ? 'no manager restarted' : `${violations.length} violation(s)`}`);
  return { restarted, durationMs: Date.now() - t0, violations };
}
