import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../test/support/harness.js';
import type { ChurnArgs, ChurnResult, GenInit, GenStatus, OpenArgs, OpenResult, StormResult } from './protocol.js';

/** The bench's handle on a load generator process (bench/loadgen.ts). */
export class Generator {
  private child: ChildProcess;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(join(ROOT, 'dist', 'bench', 'loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  get pid() {
    return this.child.pid!;
  }

  private call<T>(cmd: string, args: unknown = {}): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args });
    });
  }

  init(a: GenInit) {
    return this.call<void>('init', a);
  }
  open(a: OpenArgs) {
    return this.call<OpenResult>('open', a);
  }
  close(userIds?: string[]) {
    return this.call<number>('close', { userIds });
  }
  /** Whether the generator keeps every user's lifecycle events (see loadgen's record()). */
  record(on: boolean) {
    return this.call<void>('record', { on });
  }
  storm(timeoutMs: number, cleanupTimeoutMs: number) {
    return this.call<StormResult>('storm', { timeoutMs, cleanupTimeoutMs });
  }
  churn(a: ChurnArgs) {
    return this.call<ChurnResult>('churn', a);
  }
  status() {
    return this.call<GenStatus>('status');
  }
  async exit() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.call('exit').catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Several generator processes acting as one: users are dealt out by index, each process paces its
 * share of the rate, and the results are merged. Needed when one process cannot hold every socket
 * (the descriptor limit), and it spreads the clients over the gateways.
 */
export class GeneratorPool {
  readonly gens: Generator[];

  constructor(count: number) {
    this.gens = Array.from({ length: count }, () => new Generator());
  }

  get pids() {
    return this.gens.map((g) => g.pid);
  }

  /** Generator k talks to urls[k % urls.length]. */
  async init(a: Omit<GenInit, 'url'> & { urls: string[] }) {
    const { urls, ...rest } = a;
    await Promise.all(this.gens.map((g, k) => g.init({ ...rest, url: urls[k % urls.length] })));
  }

  async open(a: OpenArgs): Promise<OpenResult> {
    const k = this.gens.length;
    const parts = await Promise.all(this.gens.map((g, i) => g.open({ ...a, users: a.users.filter((_, j) => j % k === i), rate: a.rate / k })));
    return {
      tabs: total(parts, (p) => p.tabs),
      users: total(parts, (p) => p.users),
      first: parts.flatMap((p) => p.first),
      warm: parts.flatMap((p) => p.warm),
      nats: parts.flatMap((p) => p.nats),
      connect: parts.flatMap((p) => p.connect),
      stages: {
        toJoined: parts.flatMap((p) => p.stages.toJoined),
        toOnline: parts.flatMap((p) => p.stages.toOnline),
        toStarted: parts.flatMap((p) => p.stages.toStarted),
        toRunning: parts.flatMap((p) => p.stages.toRunning),
      },
      missing: total(parts, (p) => p.missing),
      connectedNotRunning: total(parts, (p) => p.connectedNotRunning),
      notRunningLastState: addCounts(parts.map((p) => p.notRunningLastState)),
      errors: total(parts, (p) => p.errors),
      errorSamples: [...new Set(parts.flatMap((p) => p.errorSamples))].slice(0, 5),
      scheduleMs: Math.max(...parts.map((p) => p.scheduleMs)),
      elapsedMs: Math.max(...parts.map((p) => p.elapsedMs)),
    };
  }

  async close(userIds?: string[]) {
    return total(await Promise.all(this.gens.map((g) => g.close(userIds))), (n) => n);
  }
  async record(on: boolean) {
    await Promise.all(this.gens.map((g) => g.record(on)));
  }

  async storm(timeoutMs: number, cleanupTimeoutMs: number): Promise<StormResult> {
    const parts = await Promise.all(this.gens.map((g) => g.storm(timeoutMs, cleanupTimeoutMs)));
    return {
      tabs: total(parts, (p) => p.tabs),
      users: total(parts, (p) => p.users),
      tabsBack: total(parts, (p) => p.tabsBack),
      tabsRunning: total(parts, (p) => p.tabsRunning),
      backMs: parts.flatMap((p) => p.backMs),
      timeToAllBackMs: worst(parts.map((p) => p.timeToAllBackMs)),
      timeToAllRunningMs: worst(parts.map((p) => p.timeToAllRunningMs)),
      notBack: [...new Set(parts.flatMap((p) => p.notBack))].slice(0, 5),
      stuckLogs: parts.flatMap((p) => p.stuckLogs).slice(0, 3),
      usersAwayTooLong: total(parts, (p) => p.usersAwayTooLong),
      stops: total(parts, (p) => p.stops),
      starts: total(parts, (p) => p.starts),
      spuriousStops: total(parts, (p) => p.spuriousStops),
    };
  }

  async churn(a: ChurnArgs): Promise<ChurnResult> {
    const parts = await Promise.all(this.gens.map((g) => g.churn({ ...a, rate: a.rate / this.gens.length })));
    return {
      joins: total(parts, (p) => p.joins),
      leaves: total(parts, (p) => p.leaves),
      skippedLeaves: total(parts, (p) => p.skippedLeaves),
      joinLatency: parts.flatMap((p) => p.joinLatency),
      returnLatency: parts.flatMap((p) => p.returnLatency),
      returns: total(parts, (p) => p.returns),
      maxGapMs: Math.max(...parts.map((p) => p.maxGapMs)),
      usersAwayTooLong: total(parts, (p) => p.usersAwayTooLong),
      starts: total(parts, (p) => p.starts),
      stops: total(parts, (p) => p.stops),
      spuriousStops: total(parts, (p) => p.spuriousStops),
      extraStarts: total(parts, (p) => p.extraStarts),
      spuriousLogs: parts.flatMap((p) => p.spuriousLogs).slice(0, 3),
      missing: total(parts, (p) => p.missing),
      errors: total(parts, (p) => p.errors),
      achievedRate: total(parts, (p) => p.achievedRate),
    };
  }

  async status(): Promise<GenStatus> {
    const parts = await Promise.all(this.gens.map((g) => g.status()));
    return {
      tabs: total(parts, (p) => p.tabs),
      connected: total(parts, (p) => p.connected),
      connectedByState: addCounts(parts.map((p) => p.connectedByState)),
      users: total(parts, (p) => p.users),
      rssBytes: total(parts, (p) => p.rssBytes),
    };
  }

  async exit() {
    await Promise.all(this.gens.map((g) => g.exit()));
  }
}

function addCounts(parts: Array<Record<string, number>>): Record<string, number> {
  const all: Record<string, number> = {};
  for (const p of parts) for (const [k, n] of Object.entries(p)) all[k] = (all[k] ?? 0) + n;
  return all;
}

/** The largest, or null when any part is null (not every tab came back). */
function worst(values: Array<number | null>): number | null {
  return values.some((v) => v === null) ? null : Math.max(...(values as number[]));
}

function total<T>(parts: T[], pick: (p: T) => number): number {
  return parts.reduce((a, p) => a + pick(p), 0);
}
