import type { Msg, Subscription } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { until } from '../test/support/harness.js';
import type { GeneratorPool as Generator } from './generator.js';
import { histogramQuantile, sum, type Samples } from './prom.js';
import { cpuShare, machineLoad, sample, SaturationSampler, type ProcSample, type SaturationReport } from './proc.js';
import type { ChurnResult, OpenResult, StormResult, UserSpec } from './protocol.js';
import type { BenchStack, NaiveProcess } from './stack.js';
import { summarize, type Summary } from './stats.js';

export interface Options {
  quick: boolean;
  scenarios: Set<string>;
  rampRates: number[];
  rampSeconds: number;
  holdUsers: number;
  holdTabs: number;
  holdRate: number;
  churnUsers: number;
  churnRate: number;
  churnSeconds: number;
  cleanupTimeoutMs: number;
  logLevel: string;
  workerLogLevel: string;
  consoleLoggerIntervalMs: number;
  addresses: number;
  floorN: number;
  seed: number;
  stormUsers: number;
  /** Gateways and generator processes; undefined: as many as the descriptor limit needs. */
  processes?: number;
}

/** Deterministic tab counts: mulberry32. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Users of 1 to 3 tabs until `sessions` tabs. */
export function usersFor(prefix: string, sessions: number, random: () => number): UserSpec[] {
  const out: UserSpec[] = [];
  let left = sessions;
  for (let i = 0; left > 0; i++) {
    const tabs = Math.min(left, 1 + Math.floor(random() * 3));
    out.push({ id: `${prefix}${i}`, tabs });
    left -= tabs;
  }
  return out;
}

export interface AppLag {
  p50: number;
  p99: number;
  max: number;
}

export interface RampStep {
  rate: number;
  achievedRate: number;
  sessions: number;
  users: number;
  first: Summary;
  warm: Summary;
  nats: Summary;
  connect: Summary;
  stages: { toJoined: Summary; toOnline: Summary; toStarted: Summary; toRunning: Summary };
  missing: number;
  connectedNotRunning: number;
  errors: number;
  errorSamples: string[];
  lag: Record<string, AppLag>;
  cpu: Record<string, number>;
  /** CPU time per session joined, ms, by process (load-independent, unlike latency). */
  cpuMsPerJoin: Record<string, number>;
  load: string;
}

export interface HoldResult {
  users: number;
  sessions: number;
  managers: number;
  rss: Record<string, { before: number; after: number }>;
  heap: Record<string, { before: number; after: number }>;
  /** V8's whole heap as committed (all spaces, live data or not) at each RSS reading: what of the RSS is V8's. */
  committed: Record<string, { before: number; after: number }>;
  gatewayBytesPerSession: number;
  gatewayHeapPerSession: number;
  workersBytesPerManager: number;
  workersHeapPerManager: number;
  presenceBytesPerUser: number;
  redisBytesPerUser: number;
  idleCpu: Record<string, number>;
  open: { first: Summary; warm: Summary; missing: number; connectedNotRunning: number; notRunningLastState: Record<string, number>; settledTabs: Record<string, number>; errors: number; seconds: number };
  load: string;
}

export interface CleanupResult {
  users: number;
  stopped: number;
  lateness: Summary;
  negative: number;
  spreadOfLeavesMs: number;
  /** Leaves seen on NATS more than once (repeats of a publish whose ack was late). */
  repeatedLeaves: number;
  /** The event histories of a few users stopped too early (must be none). */
  earlyStops: string[];
  /** Per user, ms: last leave stamped -> seen on NATS; -> cleanup scheduled; runAt -> offline; offline -> stopped. */
  stages: { leftPublished: Summary; scheduled: Summary; offlineAfterRunAt: Summary; stoppedAfterOffline: Summary };
  /** Inside presence, per `left` event, seconds p50 / p99 (its histograms): waiting for its turn (its user's earlier events, a free slot), then in its handler. */
  presenceLeft?: { wait: [number, number]; handle: [number, number] };
  /** The same two histograms in the workers, per `offline` (the stop of a manager). */
  workersOffline?: { wait: [number, number]; handle: [number, number] };
  /** Seconds p50 / p99 a due cleanup waited for presence to apply the user's stored events (its barrier), and how many timed out. */
  barrier?: { wait: [number, number]; timeouts: number };
  /** Whole machine, from the first close to the last stop: how long no core was idle. */
  saturation?: SaturationReport;
  lag: Record<string, AppLag>;
  cpu: Record<string, number>;
  /** CPU ms per session closed, from the first close to the last stop (each user's cleanup included), by process group. */
  cpuMsPerLeave: Record<string, number>;
  load: string;
}

export interface ChurnReport extends Omit<ChurnResult, 'joinLatency' | 'returnLatency'> {
  rate: number;
  seconds: number;
  users: number;
  join: Summary;
  returning: Summary;
  publishedJoined: number;
  publishedLeft: number;
  consumedJoined: number;
  consumedLeft: number;
  /** Published on NATS and not applied by presence (0 when every event was consumed). */
  lost: number;
  /** Presence's durable consumer at the end: messages not yet delivered / delivered and not acked. */
  consumerPending: number;
  consumerAckPending: number;
  /** Deliveries beyond one per message: acks later than ack_wait (harmless: handlers are idempotent). */
  redeliveries: number;
  lag: Record<string, AppLag>;
  cpu: Record<string, number>;
  load: string;
}

export interface StormReport extends Omit<StormResult, 'backMs'> {
  back: Summary;
  load: string;
}

export interface NaiveReport {
  ramp: RampStep[];
  hold?: { sessions: number; users: number; bytesPerSession: number; idleCpu: number };
  cleanup?: { users: number; lateness: Summary; cpuMsPerLeave: number };
}

const ms = (s: number) => s * 1000;

/** What the bench measures around each scenario: CPU (from /proc) and event-loop lag (from /metrics). */
export class Probe {
  private cpu0 = new Map<string, ProcSample>();

  constructor(
    private readonly stack: BenchStack,
    private readonly extraPids: Record<string, number> = {},
  ) {}

  pids() {
    return { ...this.stack.pids(), ...this.extraPids };
  }

  async begin() {
    // A scrape resets prom-client's event-loop histogram: the next one covers just this scenario.
    await Promise.all(this.stack.named().map(([, a]) => this.stack.metrics(a).catch(() => null)));
    this.cpu0 = new Map();
    for (const [name, pid] of Object.entries(this.pids())) {
      const s = sample(pid);
      if (s) this.cpu0.set(name, s);
    }
  }

  async end(): Promise<{ lag: Record<string, AppLag>; cpu: Record<string, number>; cpuSeconds: Record<string, number>; metrics: Record<string, Samples> }> {
    // Several gateways read as one: CPU summed, lag the worst of them.
    const group = (name: string) => (name.startsWith('gateway') ? 'gateway' : name);
    const cpu: Record<string, number> = {};
    const cpuSeconds: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      const a = this.cpu0.get(name);
      const b = sample(pid);
      const g = name.startsWith('loadgen') ? 'loadgen' : group(name);
      if (a && b) {
        cpu[g] = (cpu[g] ?? 0) + cpuShare(a, b);
        cpuSeconds[g] = (cpuSeconds[g] ?? 0) + (b.cpuSeconds - a.cpuSeconds);
      }
    }
    const lag: Record<string, AppLag> = {};
    const metrics: Record<string, Samples> = {};
    for (const [name, app] of this.stack.named()) {
      const m = await this.stack.metrics(app).catch(() => null);
      if (!m) continue;
      metrics[name] = m;
      const g = group(name);
      const prev = lag[g];
      const cur = {
        p50: ms(sum(m, 'nodejs_eventloop_lag_p50_seconds')),
        p99: ms(sum(m, 'nodejs_eventloop_lag_p99_seconds')),
        max: ms(sum(m, 'nodejs_eventloop_lag_max_seconds')),
      };
      lag[g] = prev ? { p50: Math.max(prev.p50, cur.p50), p99: Math.max(prev.p99, cur.p99), max: Math.max(prev.max, cur.max) } : cur;
    }
    return { lag, cpu, cpuSeconds, metrics };
  }
}

/** What a ramp step reports of its clients, ours or the naive process's alike. */
function openSummary(rate: number, r: OpenResult) {
  return {
    rate,
    achievedRate: (r.tabs / r.scheduleMs) * 1000,
    sessions: r.tabs,
    users: r.users,
    first: summarize(r.first),
    warm: summarize(r.warm),
    nats: summarize(r.nats),
    connect: summarize(r.connect),
    stages: {
      toJoined: summarize(r.stages.toJoined),
      toOnline: summarize(r.stages.toOnline),
      toStarted: summarize(r.stages.toStarted),
      toRunning: summarize(r.stages.toRunning),
    },
    missing: r.missing,
    connectedNotRunning: r.connectedNotRunning,
    errors: r.errors,
    errorSamples: r.errorSamples,
  };
}

export async function rampStep(stack: BenchStack, gen: Generator, probe: Probe, o: Options, rate: number, prefix: string, random: () => number): Promise<RampStep> {
  const users = usersFor(prefix, Math.max(1, Math.round(rate * o.rampSeconds)), random);
  await probe.begin();
  const r = await gen.open({ users, rate, timeoutMs: 30_000 });
  const { lag, cpu, cpuSeconds } = await probe.end();
  const cpuMsPerJoin = Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, (v * 1000) / r.tabs]));
  const load = machineLoad();
  await gen.close();
  await stack.quiesce(o.cleanupTimeoutMs + 60_000);
  return {
    ...openSummary(rate, r),
    lag,
    cpu,
    cpuMsPerJoin,
    load,
  };
}

/** Hold: memory per session and per idle manager, CPU while idle. Leaves the users connected. */
export async function hold(stack: BenchStack, gen: Generator, o: Options): Promise<{ report: HoldResult; userIds: string[] }> {
  const settle = () => new Promise((r) => setTimeout(r, o.quick ? 2000 : 5000));
  const heapOf = async () => {
    const out: Record<string, number> = {};
    for (const [name, app] of stack.named()) out[name] = sum(await stack.metrics(app), 'nodejs_heap_size_used_bytes');
    return out;
  };
  const gateways = (r: Record<string, number>) => Object.entries(r).filter(([n]) => n.startsWith('gateway')).reduce((a, [, v]) => a + v, 0);
  const rssOf = () => Object.fromEntries(Object.entries(stack.pids()).map(([n, pid]) => [n, sample(pid)?.rssBytes ?? NaN]));
  const committedOf = async () => {
    const out: Record<string, number> = {};
    for (const [name, app] of stack.named()) out[name] = sum(await stack.metrics(app), 'nodejs_heap_size_total_bytes');
    return out;
  };
  await settle();
  const rss0 = rssOf();
  const committed0 = await committedOf();
  const heap0 = await heapOf();
  for (let i = 0; i < (o.quick ? 1 : 3); i++) {
    await new Promise((res) => setTimeout(res, 1000));
    const h = await heapOf();
    for (const k of Object.keys(h)) heap0[k] = Math.min(heap0[k], h[k]);
  }
  const users: UserSpec[] = Array.from({ length: o.holdUsers }, (_, i) => ({ id: `hold${i}`, tabs: o.holdTabs }));
  const r = await gen.open({ users, rate: o.holdRate, timeoutMs: 180_000 });
  const want = o.holdUsers * o.holdTabs;
  const stats = await until('every hold session and manager', async () => {
    const s = await stack.stats();
    return s.managers >= o.holdUsers && s.sessions >= want ? s : null;
  }, 120_000, 500).catch(async () => stack.stats());
  await settle();
  // Slow or stuck? A tab still not told `running` once every manager runs and the stack settled
  // was left on a stale state.
  const settledTabs = (await gen.status()).connectedByState;
  const rss1 = rssOf();
  const committed1 = await committedOf();
  // Heap used includes garbage not yet collected: the least of a few scrapes is closest to live data.
  const heap1 = await heapOf();
  for (let i = 0; i < (o.quick ? 2 : 8); i++) {
    await new Promise((res) => setTimeout(res, 1000));
    const h = await heapOf();
    for (const k of Object.keys(h)) heap1[k] = Math.min(heap1[k], h[k]);
  }
  // Idle CPU: nothing joins or leaves; the managers tick, the sockets ping.
  const idleWindow = o.quick ? 3000 : 10_000;
  const cpu0 = Object.fromEntries(Object.entries(stack.pids()).map(([n, pid]) => [n, sample(pid)]));
  await new Promise((res) => setTimeout(res, idleWindow));
  const idleCpu: Record<string, number> = {};
  for (const [n, pid] of Object.entries(stack.pids())) {
    const a = cpu0[n];
    const b = sample(pid);
    if (a && b) idleCpu[n] = cpuShare(a, b);
  }
  const rss: HoldResult['rss'] = {};
  for (const n of Object.keys(rss0)) rss[n] = { before: rss0[n], after: rss1[n] };
  const heap: HoldResult['heap'] = {};
  for (const n of Object.keys(heap0)) heap[n] = { before: heap0[n], after: heap1[n] };
  const committed: HoldResult['committed'] = {};
  for (const n of Object.keys(committed0)) committed[n] = { before: committed0[n], after: committed1[n] };
  const sessions = stats.sessions;
  const managers = stats.managers;
  return {
    userIds: users.map((u) => u.id),
    report: {
      users: o.holdUsers,
      sessions,
      managers,
      rss,
      heap,
      committed,
      gatewayBytesPerSession: (gateways(rss1) - gateways(rss0)) / sessions,
      gatewayHeapPerSession: (gateways(heap1) - gateways(heap0)) / sessions,
      workersBytesPerManager: (rss1['stream-workers'] - rss0['stream-workers']) / managers,
      workersHeapPerManager: (heap1['stream-workers'] - heap0['stream-workers']) / managers,
      presenceBytesPerUser: (rss1.presence - rss0.presence) / o.holdUsers,
      redisBytesPerUser: (rss1['redis-server'] - rss0['redis-server']) / o.holdUsers,
      idleCpu,
      open: { first: summarize(r.first), warm: summarize(r.warm), missing: r.missing, connectedNotRunning: r.connectedNotRunning, notRunningLastState: r.notRunningLastState, settledTabs, errors: r.errors, seconds: r.elapsedMs / 1000 },
      load: machineLoad(),
    },
  };
}

/** Reconnect storm on a population of its own: every tab drops at once and reconnects. */
export async function storm(stack: BenchStack, gen: Generator, o: Options): Promise<StormReport> {
  const users: UserSpec[] = Array.from({ length: o.stormUsers }, (_, i) => ({ id: `storm${i}`, tabs: o.holdTabs }));
  await gen.open({ users, rate: o.holdRate, timeoutMs: 120_000 });
  await until('storm users present', async () => (await stack.stats()).managers >= o.stormUsers, 60_000, 250).catch(() => undefined);
  const r = await gen.storm(120_000, o.cleanupTimeoutMs);
  const { backMs, ...rest } = r;
  const load = machineLoad();
  await gen.close();
  await stack.quiesce(o.cleanupTimeoutMs + 60_000).catch(() => undefined);
  return { ...rest, back: summarize(backMs), load };
}

/**
 * Cleanup precision: every connected user leaves at once. Lateness per user: the `at` of their
 * stream.manager.<u>.stopped minus (the `at` of their last presence.session.<u>.left + timeout).
 */
export async function cleanup(stack: BenchStack, gen: Generator, probe: Probe, o: Options, userIds: string[]): Promise<CleanupResult> {
  const lastLeft = new Map<string, number>();
  const stoppedAt = new Map<string, number>();
  const watch = new Set(userIds);
  const seenLeaves = new Set<string>();
  let repeatedLeaves = 0;
  const stageTimes = new Map<string, { leftAt?: number; leftSeen?: number; scheduledSeen?: number; runAt?: number; offlineAt?: number; stoppedAt?: number }>();
  // Every lifecycle event of the watched users, to show what happened to an early stop.
  const history = new Map<string, string[]>();
  const t0 = Date.now();
  // Lifecycle subjects only: `>` would also bring every ConsoleLogger tick (10,000 a second here)
  // into this process, and the bench's own CPU would be taken from the stack it measures.
  const lifecycle = (_e: unknown, m: Msg) => {
    const parts = m.subject.split('.');
    if (parts.length !== 4 || !watch.has(parts[2]) || m.reply?.startsWith('$JS.ACK')) return;
    let p: { at?: string; reason?: string; sessionId?: string; runAt?: string };
    try {
      p = m.json();
    } catch {
      return;
    }
    // Where the time goes, per user: the last leave seen on NATS, then scheduled, offline, stopped.
    const u = parts[2];
    const seen = Date.now();
    switch (`${parts[1]}.${parts[3]}`) {
      case 'session.left':
        // A second leave of a session (the durable publisher's repeat, or presence ending a gateway
        // it thinks dead) has the same message id: JetStream drops it, and presence never sees its
        // time. It is counted, not timed: timing it as the publish made "left published" look
        // seconds slower than the first copy was.
        if (p.sessionId === undefined || seenLeaves.has(p.sessionId)) {
          repeatedLeaves++;
          break;
        }
        seenLeaves.add(p.sessionId);
        stageTimes.set(u, { ...stageTimes.get(u), leftSeen: seen, leftAt: Date.parse(p.at ?? '') });
        lastLeft.set(u, Math.max(lastLeft.get(u) ?? 0, Date.parse(p.at ?? '')));
        break;
      case 'cleanup.scheduled':
        stageTimes.set(u, { ...stageTimes.get(u), scheduledSeen: seen, runAt: Date.parse(p.runAt ?? '') });
        break;
      case 'user.offline':
        stageTimes.set(u, { ...stageTimes.get(u), offlineAt: Date.parse(p.at ?? '') });
        break;
      case 'manager.stopped':
        stageTimes.set(u, { ...stageTimes.get(u), stoppedAt: Date.parse(p.at ?? '') });
        if (!stoppedAt.has(u)) stoppedAt.set(u, Date.parse(p.at ?? ''));
        break;
    }
    const list = history.get(u) ?? [];
    const extra = [p.reason, p.sessionId?.slice(0, 8), p.runAt ? `runAt+${Date.parse(p.runAt) - t0}` : undefined].filter(Boolean).join(' ');
    list.push(`${parts[1]}.${parts[3]}${extra ? ` (${extra})` : ''} at+${Date.parse(p.at ?? '') - t0} recv+${Date.now() - t0}`);
    history.set(u, list);
  };
  // One subscription per subject tree: each event is parsed once, for the stages, the lateness and the history.
  const subs: Subscription[] = [stack.nc.subscribe('presence.>', { callback: lifecycle }), stack.nc.subscribe('stream.manager.>', { callback: lifecycle })];
  await stack.nc.flush();
  await gen.record(false);
  await probe.begin();
  const machine = new SaturationSampler().start();
  const closed = await gen.close();
  await until('every manager stopped', () => stoppedAt.size >= userIds.length, o.cleanupTimeoutMs + 120_000, 200).catch(() => undefined);
  const saturation = machine.stop();
  const { lag, cpu, cpuSeconds, metrics } = await probe.end();
  const cpuMsPerLeave = Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, (v * 1000) / Math.max(1, closed)]));
  for (const s of subs) s.unsubscribe();
  await gen.record(true);
  // The hold has no leaves: presence's `left` histograms cover exactly this scenario.
  const pm = metrics.presence;
  const q = (m: Samples, name: string, kind: string): [number, number] => [histogramQuantile(m, name, 0.5, { kind }), histogramQuantile(m, name, 0.99, { kind })];
  const eventTimes = (m: Samples | undefined, kind: string) => (m ? { wait: q(m, 'nats_event_wait_seconds', kind), handle: q(m, 'nats_event_handle_seconds', kind) } : undefined);
  const presenceLeft = eventTimes(pm, 'left');
  // Nor do the workers get an `offline` in the hold.
  const workersOffline = eventTimes(metrics['stream-workers'], 'offline');
  const bw = 'presence_cleanup_barrier_wait_seconds';
  const barrier = pm
    ? { wait: [histogramQuantile(pm, bw, 0.5), histogramQuantile(pm, bw, 0.99)] as [number, number], timeouts: sum(pm, `${bw}_count`, { outcome: 'timeout' }) }
    : undefined;
  const lateness: number[] = [];
  for (const [u, stop] of stoppedAt) {
    const left = lastLeft.get(u);
    if (left !== undefined) lateness.push(stop - (left + o.cleanupTimeoutMs));
  }
  const lefts = [...lastLeft.values()];
  const stage = (f: (t: { leftAt?: number; leftSeen?: number; scheduledSeen?: number; runAt?: number; offlineAt?: number; stoppedAt?: number }) => number | undefined) =>
    summarize([...stageTimes.values()].map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const stages = {
    leftPublished: stage((t) => (t.leftSeen ?? NaN) - (t.leftAt ?? NaN)),
    scheduled: stage((t) => (t.scheduledSeen ?? NaN) - (t.leftSeen ?? NaN)),
    offlineAfterRunAt: stage((t) => (t.offlineAt ?? NaN) - (t.runAt ?? NaN)),
    stoppedAfterOffline: stage((t) => (t.stoppedAt ?? NaN) - (t.offlineAt ?? NaN)),
  };
  const early = [...stoppedAt].filter(([u, stop]) => stop - ((lastLeft.get(u) ?? Infinity) + o.cleanupTimeoutMs) < 0).slice(0, 3);
  return {
    earlyStops: early.map(([u]) => `${u}: ${(history.get(u) ?? []).join(', ')}`),
    users: userIds.length,
    stopped: stoppedAt.size,
    lateness: summarize(lateness),
    negative: lateness.filter((l) => l < 0).length,
    spreadOfLeavesMs: lefts.length ? Math.max(...lefts) - Math.min(...lefts) : NaN,
    repeatedLeaves,
    stages,
    presenceLeft,
    workersOffline,
    barrier,
    saturation,
    lag,
    cpu,
    cpuMsPerLeave,
    load: machineLoad(),
  };
}

export async function churn(stack: BenchStack, gen: Generator, probe: Probe, o: Options, random: () => number): Promise<ChurnReport> {
  const users = usersFor('churn', Math.round(o.churnUsers * 2), random).slice(0, o.churnUsers);
  const opened = await gen.open({ users, rate: Math.min(1000, o.holdRate), timeoutMs: 60_000 });
  const tabs = opened.tabs - opened.missing - opened.errors;
  await until('churn users present', async () => (await stack.stats()).sessions >= tabs, 30_000, 200).catch(() => undefined);
  const consumed = async () => {
    const m = await stack.metrics('presence');
    return { joined: sum(m, 'presence_session_events_total', { kind: 'joined' }), left: sum(m, 'presence_session_events_total', { kind: 'left' }) };
  };
  // Distinct events, by JetStream message id: a publish retried after a late ack (or a leave that
  // presence repeats for a gateway it took for dead) crosses NATS twice but is stored once.
  const ids = { joined: new Set<string>(), left: new Set<string>() };
  let unnamed = 0;
  const count = (set: Set<string>) => (_err: unknown, m: Msg) => void set.add(m.headers?.get('Nats-Msg-Id') || `unnamed-${unnamed++}`);
  const subs = [
    stack.nc.subscribe('presence.session.*.joined', { callback: count(ids.joined) }),
    stack.nc.subscribe('presence.session.*.left', { callback: count(ids.left) }),
  ];
  await stack.nc.flush();
  const jsm = await jetstreamManager(stack.nc);
  const consumerInfo = () => jsm.consumers.info('PRESENCE_EVENTS', 'presence-sessions');
  const c0 = await consumerInfo();
  const before = await consumed();
  await probe.begin();
  const r = await gen.churn({ rate: o.churnRate, durationMs: o.churnSeconds * 1000, cleanupTimeoutMs: o.cleanupTimeoutMs, timeoutMs: 30_000 });
  const { lag, cpu } = await probe.end();
  const load = machineLoad();
  let after = await consumed();
  await until('presence to consume every published session event', async () => {
    after = await consumed();
    return after.joined - before.joined >= ids.joined.size && after.left - before.left >= ids.left.size;
  }, 60_000, 250).catch(() => undefined);
  for (const s of subs) s.unsubscribe();
  const c1 = await consumerInfo();
  const deliveries = c1.delivered.consumer_seq - c0.delivered.consumer_seq;
  const consumedJoined = after.joined - before.joined;
  const consumedLeft = after.left - before.left;
  const { joinLatency, returnLatency, ...rest } = r;
  await gen.close();
  await stack.quiesce(o.cleanupTimeoutMs + 60_000).catch(() => undefined);
  return {
    ...rest,
    rate: o.churnRate,
    seconds: o.churnSeconds,
    users: users.length,
    join: summarize(joinLatency),
    returning: summarize(returnLatency),
    publishedJoined: ids.joined.size,
    publishedLeft: ids.left.size,
    consumedJoined,
    consumedLeft,
    lost: Math.max(0, ids.joined.size - consumedJoined) + Math.max(0, ids.left.size - consumedLeft),
    consumerPending: c1.num_pending,
    consumerAckPending: c1.num_ack_pending,
    // The consumer sees session events only: deliveries beyond those published are redeliveries.
    redeliveries: Math.max(0, deliveries - (ids.joined.size + ids.left.size)),
    lag,
    cpu,
    load,
  };
}

/** The naive process, measured the same way: memory per session and cleanup lateness. */
export async function naiveHold(np: NaiveProcess, gen: Generator, o: Options, maxSessions: number): Promise<Pick<NaiveReport, 'hold' | 'cleanup'>> {
  await np.reset();
  await new Promise((r) => setTimeout(r, 2000));
  const rss0 = sample(np.child!.pid!)!.rssBytes;
  // One process by design: it holds no more sockets than its descriptor limit allows.
  const holdUsers = Math.min(o.holdUsers, Math.floor(maxSessions / o.holdTabs));
  const users: UserSpec[] = Array.from({ length: holdUsers }, (_, i) => ({ id: `nhold${i}`, tabs: o.holdTabs }));
  const r = await gen.open({ users, rate: o.holdRate, timeoutMs: 120_000 });
  await new Promise((res) => setTimeout(res, o.quick ? 2000 : 5000));
  const s0 = sample(np.child!.pid!)!;
  await new Promise((res) => setTimeout(res, o.quick ? 3000 : 10_000));
  const s1 = sample(np.child!.pid!)!;
  const sessions = r.tabs - r.missing - r.errors;
  const hold = { sessions, users: holdUsers, bytesPerSession: (s0.rssBytes - rss0) / sessions, idleCpu: cpuShare(s0, s1) };
  const c0 = sample(np.child!.pid!)!;
  const closed = await gen.close();
  await until('naive cleanups', async () => (await np.stats()).users === 0, o.cleanupTimeoutMs + 60_000, 500).catch(() => undefined);
  const c1 = sample(np.child!.pid!)!;
  const cpuMsPerLeave = ((c1.cpuSeconds - c0.cpuSeconds) * 1000) / Math.max(1, closed);
  return { hold, cleanup: { users: holdUsers, lateness: summarize((await np.stats()).lateness), cpuMsPerLeave } };
}

/** One ramp step against the naive process, right after ours at the same rate (the same machine load). */
export async function naiveRampStep(np: NaiveProcess, gen: Generator, o: Options, rate: number, random: () => number): Promise<RampStep> {
  const users = usersFor(`naive${rate}-`, Math.max(1, Math.round(rate * o.rampSeconds)), random);
  const c0 = sample(np.child!.pid!);
  const r = await gen.open({ users, rate, timeoutMs: 30_000 });
  const c1 = sample(np.child!.pid!);
  const step: RampStep = {
    ...openSummary(rate, r),
    lag: {},
    cpu: c0 && c1 ? { naive: cpuShare(c0, c1) } : {},
    cpuMsPerJoin: c0 && c1 ? { naive: ((c1.cpuSeconds - c0.cpuSeconds) * 1000) / r.tabs } : {},
    load: machineLoad(),
  };
  await gen.close();
  await until('naive idle', async () => (await np.stats()).users === 0, o.cleanupTimeoutMs + 30_000, 200);
  return step;
}
