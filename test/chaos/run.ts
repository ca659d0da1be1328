import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, Stack, sleep, until, type AppProcess } from '../support/harness.js';
import { Balancer } from '../support/balancer.js';
import { Population, type SimTab } from './population.js';
import { Rng } from './rng.js';
import { ExitMonitor, FAULT_KINDS, Injector, type FaultKind } from './injector.js';
import { bandsAt, type Timings } from './truth.js';
import { checkNoEarlyStop, checkSingleManager, historyOf, type Violation } from './checker.js';
import { rollingRestart } from './rolling.js';
import { formatReport, type ChaosReport, type FaultResult } from './report.js';

export interface ChaosOptions {
  seed: number;
  faults: number;
  users: number;
  /** Mean ms between two actions of the population. */
  stepMs: number;
  kinds?: readonly FaultKind[];
  rolling?: boolean;
  log?: (line: string) => void;
}

// Short enough for many faults a minute; the grace long enough for a tab's first reconnection
// attempt (Socket.IO waits 0.5 to 1.5 s) to land before its manager's cleanup is due.
export const TIMINGS: Timings = { graceMs: 3000, gatewayTtlMs: 3000, workerTtlMs: 3000 };
const BOUND_MS = TIMINGS.gatewayTtlMs + TIMINGS.workerTtlMs + TIMINGS.graceMs;

const ENV = {
  GATEWAY_TTL_MS: String(TIMINGS.gatewayTtlMs),
  WORKER_TTL_MS: String(TIMINGS.workerTtlMs),
  CLEANUP_TIMEOUT_MS: String(TIMINGS.graceMs),
  CONSOLE_LOGGER_INTERVAL_MS: '250',
  // A tab on a paused gateway notices within 2 s, well inside GATEWAY_TTL_MS + the grace.
  SOCKET_PING_INTERVAL_MS: '1000',
  SOCKET_PING_TIMEOUT_MS: '1000',
  LOG_LEVEL: 'log',
};

/**
 * The chaos run: a population of real Socket.IO clients behind a balancer over 2 gateways, with 2
 * presence replicas and 2 stream workers, while a seeded scheduler injects faults one at a time.
 * After each fault, the running managers must match what the clients' own observations demand
 * within GATEWAY_TTL_MS + WORKER_TTL_MS + CLEANUP_TIMEOUT_MS; the whole history is then checked.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const rng = new Rng(opts.seed);
  const stack = new Stack({ env: ENV, gateways: 2, workers: 2 });
  const exits = new ExitMonitor();
  let balancer: Balancer | undefined;
  let population: Population | undefined;
  const startedAt = Date.now();
  try {
    await stack.start();
    await stack.addApp('presence');
    for (const a of stack.apps) exits.watch(a);
    balancer = new Balancer(stack.gateways.map((g) => g.port));
    await balancer.start();
    population = new Population(rng, balancer.url, (u) => stack.token(u), { users: opts.users, graceMs: TIMINGS.graceMs, stepMs: opts.stepMs }, `c${opts.seed}`);
    const pop = population;
    const byUser = () => new Map(pop.users.map((u) => [u, pop.tabsOf(u)]));
    await pop.start();
    await converge(stack, byUser, 15_000);
    log(`seed ${opts.seed}: ${opts.users} users running; injecting ${opts.faults} faults`);

    const injector = new Injector(stack, rng, exits, TIMINGS, () => pop.users);
    const kinds = shuffled(rng, opts.kinds ?? FAULT_KINDS);
    const faults: FaultResult[] = [];
    for (let i = 0; i < opts.faults; i++) {
      const kind = kinds[i % kinds.length];
      const injected = await injector.inject(kind);
      const took = await converge(stack, byUser, BOUND_MS + 10_000).catch((err: Error) => ({ failed: err.message }));
      const convergedIn = typeof took === 'number' ? Date.now() - injected.endedAt : undefined;
      faults.push({ ...injected, convergedInMs: convergedIn, failure: typeof took === 'number' ? undefined : took.failed });
      log(`${i + 1}/${opts.faults} ${kind} ${injected.target}: ${convergedIn === undefined ? 'did NOT converge' : `converged ${convergedIn} ms after`}`);
      await sleep(rng.int(500, 1500));
    }

    pop.pause();
    const rolling = opts.rolling === false ? undefined : await rollingRestart(stack, injector, pop, TIMINGS.graceMs, log);

    // Quiet: everyone who left is past their grace; the state must be exact, session by session.
    await sleep(TIMINGS.graceMs + TIMINGS.gatewayTtlMs + 1000);
    const final = await finalCheck(stack, pop);
    const seen = stack.observer.seen;
    const violations: Violation[] = [
      ...faults.filter((f) => f.failure || (f.convergedInMs ?? Infinity) > BOUND_MS).map((f) => ({ invariant: 'convergence', detail: `${f.kind} ${f.target}: ${f.failure ?? `${f.convergedInMs} ms`}` })),
      ...checkSingleManager(seen, pop.users),
      ...checkNoEarlyStop(seen, byUser(), TIMINGS.graceMs),
      ...final,
      ...(rolling?.violations ?? []),
      ...exits.unexpected.map((detail) => ({ invariant: 'no other process exits', detail })),
    ];
    const report: ChaosReport = {
      seed: opts.seed,
      users: opts.users,
      actions: pop.actions,
      durationMs: Date.now() - startedAt,
      boundMs: BOUND_MS,
      faults,
      rolling,
      ticks: seen.filter((s) => s.subject.startsWith('stream.console.')).length,
      violations,
      histories: [...new Set(violations.map((v) => v.user).filter((u): u is string => !!u))].slice(0, 3).map((u) => ({ user: u, history: historyOf(seen, u, pop.tabsOf(u)) })),
    };
    log(formatReport(report));
    if (violations.length > 0) log(`every process's log: ${saveLogs(opts.seed, exits.all)}`);
    return report;
  } finally {
    population?.close();
    await balancer?.close();
    await stack.stop();
  }
}

/** Writes each process's log under test-artifacts/chaos-<seed>/; answers the folder. */
function saveLogs(seed: number, apps: AppProcess[]): string {
  const dir = join(ROOT, 'test-artifacts', `chaos-${seed}`);
  mkdirSync(dir, { recursive: true });
  apps.forEach((a, i) => writeFileSync(join(dir, `${a.env.INSTANCE_ID}-${i}.log`), `${a.lines.join('\n')}\n`));
  return dir;
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Waits until the running managers satisfy the clients' bands; answers how long it took. */
export async function converge(stack: Stack, byUser: () => Map<string, SimTab[]>, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let last = '';
  try {
    await until('managers to match the clients', async () => {
      const rows = await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers', undefined, 2500).catch(() => null);
      if (!rows) {
        last = 'the managers query failed';
        return false;
      }
      const running = rows.managers.map((m) => m.userId);
      const { mustRun, mustNotRun } = bandsAt(byUser(), Date.now(), TIMINGS);
      const missing = [...mustRun].filter((u) => !running.includes(u));
      const extra = running.filter((u) => mustNotRun.has(u));
      const twice = running.filter((u, i) => running.indexOf(u) !== i);
      last = JSON.stringify({ missing, extra, twice });
      return missing.length === 0 && extra.length === 0 && twice.length === 0;
    }, timeoutMs, 250);
  } catch {
    throw new Error(`not converged within ${timeoutMs} ms: ${last}`);
  }
  return Date.now() - t0;
}

/** After the quiet: presence holds exactly the connected tabs' sessions, and managers run for exactly their users. */
async function finalCheck(stack: Stack, pop: Population): Promise<Violation[]> {
  const out: Violation[] = [];
  await until('every open tab connected', () => pop.tabs.every((t) => t.closedAt !== undefined || t.isConnected), 15_000).catch(() =>
    out.push({ invariant: 'tabs reconnect', detail: 'some open tabs never reconnected' }),
  );
  const want = new Set(pop.tabs.filter((t) => t.closedAt === undefined && t.isConnected).map((t) => t.sessionId!));
  const wantUsers = [...new Set(pop.tabs.filter((t) => t.closedAt === undefined).map((t) => t.user))].sort();
  let last = '';
  const ok = await until('presence and managers exact', async () => {
    const [users, managers] = await Promise.all([
      stack.observer.request<{ users: Record<string, { metas: Array<{ sessionId: string }> }> }>('presence.query.users', undefined, 3000),
      stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers', undefined, 3000),
    ]).catch(() => [null, null] as const);
    if (!users || !managers) return false;
    const held = new Set(Object.entries(users.users).filter(([u]) => pop.users.includes(u)).flatMap(([, p]) => p.metas.map((m) => m.sessionId)));
    const running = managers.managers.map((m) => m.userId).filter((u) => pop.users.includes(u)).sort();
    const lost = [...want].filter((s) => !held.has(s));
    const ghosts = [...held].filter((s) => !want.has(s));
    last = JSON.stringify({ lostJoins: lost, ghostSessions: ghosts, running, wantUsers });
    return lost.length === 0 && ghosts.length === 0 && JSON.stringify(running) === JSON.stringify(wantUsers);
  }, 10_000, 250).then(() => true, () => false);
  if (!ok) out.push({ invariant: 'no session event lost', detail: last });
  out.push(...(await tabsShowTheirManager(stack, pop)));
  return out;
}

/**
 * Every open tab ends showing its user's manager `running` on the worker that runs it, whatever
 * the faults did to the lifecycle events on the way: its gateway's record of the user converges.
 */
async function tabsShowTheirManager(stack: Stack, pop: Population): Promise<Violation[]> {
  let wrong: Array<{ user: string; shows?: { state: string; workerId?: string }; runsOn?: string }> = [];
  await until('every open tab shows its manager where it runs', async () => {
    const rows = await stack.observer.request<{ managers: Array<{ userId: string; workerId: string }> }>('stream.query.managers', undefined, 3000).catch(() => null);
    if (!rows) return false;
    const runsOn = new Map(rows.managers.map((m) => [m.userId, m.workerId]));
    wrong = pop.tabs
      .filter((t) => t.closedAt === undefined && t.isConnected)
      .filter((t) => t.manager?.state !== 'running' || t.manager.workerId !== runsOn.get(t.user))
      .map((t) => ({ user: t.user, shows: t.manager, runsOn: runsOn.get(t.user) }));
    return wrong.length === 0;
  }, 10_000, 250).catch(() => undefined);
  return wrong.map((w) => ({ invariant: 'tabs show their manager', user: w.user, detail: JSON.stringify(w) }));
}

