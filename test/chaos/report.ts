import type { Injected } from './injector.js';
import type { RollingResult } from './rolling.js';
import type { Violation } from './checker.js';

export interface FaultResult extends Injected {
  convergedInMs?: number;
  failure?: string;
}

export interface ChaosReport {
  seed: number;
  users: number;
  actions: number;
  durationMs: number;
  boundMs: number;
  faults: FaultResult[];
  rolling?: RollingResult;
  ticks: number;
  violations: Violation[];
  histories: Array<{ user: string; history: string }>;
}

const INVARIANTS = [
  'convergence',
  'single manager (events)',
  'single manager (ticks)',
  'no early stop',
  'no session event lost',
  'tabs reconnect',
  'tabs show their manager',
  'rolling restart restarts no manager',
  'rolling restart: counts go on',
  'rolling restart: tabs reconnect',
  'no other process exits',
];

/** The run as a table: faults by kind, each invariant held or not, the worst convergence against its bound. */
export function formatReport(r: ChaosReport): string {
  const lines = [`chaos run, seed ${r.seed}: ${r.users} users, ${r.actions} actions, ${r.faults.length} faults, ${r.ticks} ticks, ${Math.round(r.durationMs / 1000)} s`, ''];
  lines.push('| fault | injected | converged | worst convergence (ms) |', '| --- | --- | --- | --- |');
  const kinds = [...new Set(r.faults.map((f) => f.kind))].sort();
  for (const k of kinds) {
    const fs = r.faults.filter((f) => f.kind === k);
    const ok = fs.filter((f) => f.convergedInMs !== undefined && f.convergedInMs <= r.boundMs);
    const worst = Math.max(...fs.map((f) => f.convergedInMs ?? Infinity));
    lines.push(`| ${k} | ${fs.length} | ${ok.length} | ${Number.isFinite(worst) ? worst : 'never'} |`);
  }
  const worst = Math.max(0, ...r.faults.map((f) => f.convergedInMs ?? Infinity));
  lines.push('', `worst convergence: ${Number.isFinite(worst) ? `${worst} ms` : 'never'} (bound GATEWAY_TTL_MS + WORKER_TTL_MS + CLEANUP_TIMEOUT_MS = ${r.boundMs} ms)`);
  if (r.rolling) lines.push(`rolling restart: ${r.rolling.restarted.length} instances, one at a time, in ${Math.round(r.rolling.durationMs / 1000)} s`);
  lines.push('', '| invariant | result |', '| --- | --- |');
  for (const inv of INVARIANTS) {
    const n = r.violations.filter((v) => v.invariant === inv).length;
    lines.push(`| ${inv} | ${n === 0 ? 'held' : `${n} violation(s)`} |`);
  }
  if (r.violations.length > 0) {
    lines.push('', `FAILED (seed ${r.seed}):`);
    for (const v of r.violations.slice(0, 20)) lines.push(`- ${v.invariant}${v.user ? ` [${v.user}]` : ''}: ${v.detail}`);
    for (const h of r.histories) lines.push('', `history of ${h.user}:`, h.history);
  }
  return lines.join('\n');
}
