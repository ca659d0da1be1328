import { expect } from '@jest/globals';
import { AppProcess, until, type Seen, type Stack, type Tab } from './harness.js';

/**
 * Helpers for the fault tests (test/faults): what a user would check after a crash. Which managers
 * run (stream.query.managers), who is present (presence.query.users/stats), and that no user ever
 * had two managers at once, judged from the lifecycle events and from the ConsoleLogger lines of
 * every worker process, dead or alive.
 */

export interface FaultTimings {
  GATEWAY_TTL_MS: number;
  WORKER_TTL_MS: number;
  CLEANUP_TIMEOUT_MS: number;
}

/** Small TTLs so a whole fault family runs in tens of seconds. */
export const FAST: FaultTimings = { GATEWAY_TTL_MS: 2000, WORKER_TTL_MS: 2000, CLEANUP_TIMEOUT_MS: 1500 };

export const fastEnv = (t: FaultTimings = FAST, extra: Record<string, string> = {}) => ({
  GATEWAY_TTL_MS: String(t.GATEWAY_TTL_MS),
  WORKER_TTL_MS: String(t.WORKER_TTL_MS),
  CLEANUP_TIMEOUT_MS: String(t.CLEANUP_TIMEOUT_MS),
  CONSOLE_LOGGER_INTERVAL_MS: '200',
  ...extra,
});

/** Contract guarantee 6: converge within GATEWAY_TTL_MS + WORKER_TTL_MS + CLEANUP_TIMEOUT_MS (+ ticks). */
export const convergenceBound = (t: FaultTimings = FAST, marginMs = 1500) => t.GATEWAY_TTL_MS + t.WORKER_TTL_MS + t.CLEANUP_TIMEOUT_MS + marginMs;

export interface ManagerRow {
  userId: string;
  workerId: string;
}

export async function managers(stack: Stack): Promise<ManagerRow[]> {
  return answered(await stack.observer.request<{ managers?: ManagerRow[]; error?: string }>('stream.query.managers', undefined, 5000), 'managers');
}

/** A query's field, or a thrown error naming what came instead (an `{error}` answer while a back end is away). */
function answered<T, K extends keyof T>(r: T & { error?: string }, field: K): NonNullable<T[K]> {
  const v = r[field];
  if (v === undefined || v === null) throw new Error(r.error ?? `no ${String(field)} in the answer: ${JSON.stringify(r).slice(0, 200)}`);
  return v;
}

export async function presentUsers(stack: Stack): Promise<Record<string, { metas: Array<{ sessionId: string; gatewayId: string }> }>> {
  const r = await stack.observer.request<{ users?: Record<string, { metas: Array<{ sessionId: string; gatewayId: string }> }>; error?: string }>('presence.query.users', undefined, 5000);
  return answered(r, 'users');
}

export async function stats(stack: Stack) {
  const r = await stack.observer.request<{ users: number; sessions: number; pendingCleanups: number; managers: number; error?: string }>('presence.query.stats', undefined, 5000);
  answered(r, 'users');
  return r;
}

/** The users whose tabs the test holds open: the only users that may be present. */
export function heldUsers(tabs: Array<{ user: string; tab: Tab }>): string[] {
  return [...new Set(tabs.filter((t) => t.tab.socket.connected).map((t) => t.user))].sort();
}

/** The tabs a test opens and closes by user: every user it ever opened (in order), and every tab. */
export class TabBook {
  readonly tabs: Array<{ user: string; tab: Tab }> = [];
  readonly users: string[] = [];

  constructor(private readonly stack: Stack) {}

  /** Another tab of `user`. */
  open = async (user: string) => {
    if (!this.users.includes(user)) this.users.push(user);
    this.tabs.push({ user, tab: await this.stack.tab(user) });
  };

  /** Closes one of `user`'s open tabs. */
  close = (user: string) => this.tabs.find((t) => t.user === user && t.tab.socket.connected)!.tab.close();

  closeAll() {
    for (const t of this.tabs) t.tab.close();
  }
}

export interface HealthAnswer {
  status: number;
  body: { status: string; ready: boolean; checks: Record<string, string>; problems?: Record<string, string> };
}

/** Until every app of the stack answers `GET /health` with 200. */
export function allHealthy(stack: Stack, timeoutMs: number) {
  return until('every app healthy', async () => (await Promise.all(stack.apps.map((a) => health(a).catch(() => ({ status: 0 }))))).every((h) => h.status === 200), timeoutMs, 250);
}

/** An app's `GET /health`: its HTTP status and what it says. */
export async function health(app: AppProcess): Promise<HealthAnswer> {
  const res = await fetch(`${app.url}/health`);
  return { status: res.status, body: (await res.json()) as HealthAnswer['body'] };
}

/**
 * Waits until, among `users`, the managers running are exactly `expected`, presence lists exactly
 * them, presence's stats agree with its user list, and no user has two managers. Answers the time
 * it took.
 */
export async function converged(stack: Stack, users: string[], expected: string[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const want = [...expected].sort();
  let last = '';
  try {
    await until('managers and presence to converge', async () => {
      let answers: [ManagerRow[], Awaited<ReturnType<typeof presentUsers>>, Awaited<ReturnType<typeof stats>>];
      try {
        answers = await Promise.all([managers(stack), presentUsers(stack), stats(stack)]);
      } catch (err) {
        last = `a query failed: ${(err as Error).message}`;
        return false;
      }
      const [ms, present, st] = answers;
      const running = ms.filter((m) => users.includes(m.userId)).map((m) => m.userId).sort();
      const here = Object.keys(present).filter((u) => users.includes(u)).sort();
      const sessions = Object.values(present).reduce((n, p) => n + p.metas.length, 0);
      last = JSON.stringify({ running, here, want, stats: st, listed: Object.keys(present).length, sessions });
      return (
        JSON.stringify(running) === JSON.stringify(want) &&
        JSON.stringify(here) === JSON.stringify(want) &&
        st.users === Object.keys(present).length &&
        st.sessions === sessions
      );
    }, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  }
  return Date.now() - t0;
}

interface ConsoleLine {
  worker: AppProcess;
  n: number;
  at: number;
}

function consoleLinesOf(workers: AppProcess[], user: string): ConsoleLine[] {
  const re = new RegExp(`\\[UserStreamManager:${user}\\] Console log #(\\d+) - (\\S+)`);
  const out: ConsoleLine[] = [];
  for (const worker of workers) {
    for (const line of worker.lines) {
      const m = re.exec(line);
      if (m) out.push({ worker, n: Number(m[1]), at: Date.parse(m[2]) });
    }
  }
  return out;
}

/**
 * Contract guarantee 5, from the ConsoleLogger lines of every worker process: split each process's
 * lines of the user into manager lifetimes (a count that does not go on by one starts a new
 * manager) and check that no two lifetimes overlap in time.
 */
export function expectOneManagerAtATime(workers: AppProcess[], user: string) {
  const lives: Array<{ worker: string; from: number; to: number }> = [];
  for (const worker of workers) {
    let cur: { worker: string; from: number; to: number; n: number } | undefined;
    for (const l of consoleLinesOf([worker], user)) {
      if (cur && l.n === cur.n + 1) {
        cur.to = l.at;
        cur.n = l.n;
        continue;
      }
      if (cur) lives.push(cur);
      cur = { worker: worker.env.INSTANCE_ID, from: l.at, to: l.at, n: l.n };
    }
    if (cur) lives.push(cur);
  }
  lives.sort((a, b) => a.from - b.from);
  for (let i = 1; i < lives.length; i++) {
    expect({ user, overlap: lives[i].from <= lives[i - 1].to, lives }).toMatchObject({ overlap: false });
  }
  return lives;
}

/**
 * Contract guarantee 5, from the events: walking stream.manager.<u>.started/stopped in the order
 * they were seen, a start never comes while another worker's manager of the user still runs.
 * A worker killed with -9 never says stopped: its managers end at its kill time. `events`: the
 * observer's by default; the stream's (readStream) where the observer itself may have missed some.
 */
export function expectNeverTwoManagers(stack: Stack, user: string, killed: Map<string, number>, events: Seen[] = stack.observer.seen) {
  const running = new Set<string>();
  for (const e of events) {
    if (e.subject !== `stream.manager.${user}.started` && e.subject !== `stream.manager.${user}.stopped`) continue;
    const worker = String(e.data.workerId);
    for (const [w, at] of killed) if (at <= e.receivedAt) running.delete(w);
    if (e.subject.endsWith('.stopped')) {
      running.delete(worker);
      continue;
    }
    expect({ user, startedOn: worker, alreadyRunningOn: [...running] }).toEqual({ user, startedOn: worker, alreadyRunningOn: [] });
    running.add(worker);
  }
}

/** Every user has at most one manager in the cluster's own listing. */
export async function expectNoDuplicateManagers(stack: Stack) {
  const ms = await managers(stack);
  const ids = ms.map((m) => m.userId);
  expect(ids.filter((u, i) => ids.indexOf(u) !== i)).toEqual([]);
}

/** A new AppProcess for the same app, env and port: a restart of a killed process. */
export async function restart(stack: Stack, dead: AppProcess): Promise<AppProcess> {
  const again = new AppProcess(dead.app, dead.env, dead.port);
  const list = dead.app === 'gateway' ? stack.gateways : dead.app === 'presence' ? stack.presences : stack.workers;
  list.push(again);
  await again.start();
  return again;
}

/**
 * Presence's count of managers (`presence.query.stats` and /metrics `presence_managers`, both
 * read from the workers' registry) equals the managers the workers list: no entry of a dead
 * worker outlives it. Waits for it; answers the count.
 */
export async function statsMatchManagers(stack: Stack, timeoutMs: number): Promise<number> {
  let last = '';
  try {
    return await until('presence stats and /metrics to count the managers the workers run', async () => {
      try {
        const [ms, st, text] = await Promise.all([managers(stack), stats(stack), fetch(`${stack.presence.url}/metrics`).then((r) => r.text())]);
        const gauge = Number(/^presence_managers (\d+)$/m.exec(text)?.[1] ?? NaN);
        last = JSON.stringify({ listed: ms.length, stats: st.managers, metrics: gauge });
        return ms.length === st.managers && gauge === ms.length ? { count: ms.length } : false;
      } catch (err) {
        last = `a query failed: ${(err as Error).message}`;
        return false;
      }
    }, timeoutMs, 100).then((v) => v.count);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  }
}
