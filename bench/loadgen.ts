/**
 * The load generator: real Socket.IO clients (websocket transport, Socket.IO's default reconnection),
 * run in a process of its own so that its event loop is not shared with the bench's measurements.
 * Driven by the bench over IPC (bench/protocol.ts). Every latency is measured here, on one clock.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { io, type Socket } from 'socket.io-client';
import { signToken } from '#libs/auth/token.js';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { skipRepeatedReceiverEnds } from '#libs/runtime/ws-receiver.js';
import type { ChurnArgs, ChurnResult, GenCommand, GenInit, GenStatus, OpenArgs, OpenResult, StormResult } from './protocol.js';

interface Tab {
  user: User;
  socket: Socket;
  /** performance.now() when the client started to connect */
  t0: number;
  connectedAt?: number;
  runningAt?: number;
  error?: string;
  /** The last reconnection failure, for the report. */
  lastError?: string;
  /** The state of the last `manager` event. */
  lastState?: string;
  /** Storm bookkeeping. */
  droppedAt?: number;
  backAt?: number;
  backRunningAt?: number;
  open: boolean;
}

interface User {
  id: string;
  token: string;
  tabs: Tab[];
  started: number[];
  stopped: number[];
  left: number[];
  offline: number[];
  scheduled: number[];
  cancelled: number[];
  /** When the generator saw the user's session joined and online events (the pipeline's stages). */
  joined: number[];
  online: number[];
  /** Client and NATS events with times, kept during churn to explain a spurious stop. */
  log?: string[];
  /** When the user's last tab was closed (no tab left), for churn. */
  awaySince?: number;
}

// The clients close through the same ws code as the gateway: keep their share of the machine small too.
skipRepeatedReceiverEnds('engine.io-client');

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let init: GenInit;
let nc: NatsConnection | undefined;
const users = new Map<string, User>();
let addressTurn = 0;
let logT0 = 0;

async function setup(args: GenInit) {
  init = args;
  if (args.natsUrl) {
    nc = await connect(natsConnectionOptions(args.natsUrl, 'bench-loadgen'));
    await record(true);
  }
}

type Recorded = 'started' | 'stopped' | 'joined' | 'online' | 'left' | 'offline' | 'scheduled' | 'cancelled';
const RECORDED_SUBJECTS: Record<Recorded, string> = {
  started: 'stream.manager.*.started',
  stopped: 'stream.manager.*.stopped',
  joined: 'presence.session.*.joined',
  online: 'presence.user.*.online',
  left: 'presence.session.*.left',
  offline: 'presence.user.*.offline',
  scheduled: 'presence.cleanup.*.scheduled',
  cancelled: 'presence.cleanup.*.cancelled',
};
let recording: Subscription[] = [];

/**
 * Every generator keeps each user's lifecycle events, with their times, for the ramp, churn and
 * storm. The cleanup scenario keeps its own (in the bench process) and turns this off: every
 * generator receiving every user's leave, cleanup and stop would be the bench's own load, taken
 * from the stack during the very seconds it measures.
 */
async function record(on: boolean) {
  if (!nc) return;
  for (const s of recording) s.unsubscribe();
  recording = [];
  if (on) {
    for (const [kind, subject] of Object.entries(RECORDED_SUBJECTS) as Array<[Recorded, string]>) {
      recording.push(
        nc.subscribe(subject, {
          callback: (_err, msg) => {
            const u = users.get(msg.subject.split('.')[2]);
            if (u) {
              u[kind].push(now());
              u.log?.push(`${kind}@${Math.round(now() - logT0)}`);
            }
          },
        }),
      );
    }
  }
  await nc.flush();
}

async function userOf(id: string): Promise<User> {
  let u = users.get(id);
  if (!u) {
    u = { id, token: await signToken(init.secret, id, { expiresIn: '2h' }), tabs: [], started: [], stopped: [], joined: [], online: [], left: [], offline: [], scheduled: [], cancelled: [] };
    users.set(id, u);
  }
  return u;
}

function openTab(user: User, onRunning?: (tab: Tab) => void): Tab {
  const localAddress = init.localAddresses[addressTurn++ % init.localAddresses.length];
  const t0 = now();
  const socket = io(`${init.url}/presence`, {
    auth: { token: user.token, page: '/dashboard' },
    transports: ['websocket'],
    forceNew: true,
    localAddress,
  } as Parameters<typeof io>[1]);
  const tab: Tab = { user, socket, t0, open: true };
  user.tabs.push(tab);
  user.log?.push(`open@${Math.round(t0 - logT0)}`);
  socket.on('connect', () => {
    const t = now();
    user.log?.push(`tab${user.tabs.indexOf(tab)}:connected@${Math.round(t - logT0)}`);
    tab.connectedAt ??= t;
    if (tab.droppedAt !== undefined && tab.backAt === undefined) tab.backAt = t;
  });
  socket.on('manager', (m: { state?: string }) => {
    tab.lastState = m?.state;
    user.log?.push(`tab${user.tabs.indexOf(tab)}:${m?.state}@${Math.round(now() - logT0)}`);
    if (m?.state !== 'running') return;
    const t = now();
    if (tab.runningAt === undefined) {
      tab.runningAt = t;
      onRunning?.(tab);
    }
    if (tab.backAt !== undefined && tab.backRunningAt === undefined) tab.backRunningAt = t;
  });
  socket.on('connect_error', (e: Error) => {
    tab.error ??= e.message;
    tab.lastError = `connect_error: ${e.message}`;
  });
  socket.io.on('reconnect_error', (e: Error) => {
    tab.lastError = `reconnect_error: ${e.message}`;
  });
  return tab;
}

function closeTab(tab: Tab) {
  tab.user.log?.push(`close@${Math.round(now() - logT0)}`);
  tab.open = false;
  tab.socket.disconnect();
  const list = tab.user.tabs;
  const i = list.indexOf(tab);
  if (i >= 0) list.splice(i, 1);
}

async function until(fn: () => boolean, timeoutMs: number) {
  const deadline = now() + timeoutMs;
  while (!fn() && now() < deadline) await sleep(20);
}

/** Runs `launch(i)` for i in [0, n) at `rate` per second, open loop. Resolves after the last. */
function paced(n: number, rate: number, launch: (i: number) => void): Promise<number> {
  return new Promise((resolve) => {
    const start = now();
    const interval = 1000 / rate;
    let i = 0;
    const tick = () => {
      const t = now();
      while (i < n && start + i * interval <= t) launch(i++);
      if (i < n) setTimeout(tick, Math.max(0, start + i * interval - now()));
      else resolve(now() - start);
    };
    tick();
  });
}

async function open(args: OpenArgs): Promise<OpenResult> {
  const specs = await Promise.all(args.users.map(async (s) => ({ user: await userOf(s.id), tabs: s.tabs })));
  const plan: Array<{ user: User; first: boolean }> = [];
  for (const s of specs) for (let k = 0; k < s.tabs; k++) plan.push({ user: s.user, first: k === 0 });
  const opened: Array<{ tab: Tab; first: boolean }> = [];
  const t0 = now();
  const scheduleMs = await paced(plan.length, args.rate, (i) => opened.push({ tab: openTab(plan[i].user), first: plan[i].first }));
  await until(() => opened.every(({ tab }) => tab.runningAt !== undefined || tab.error !== undefined), args.timeoutMs);
  const elapsedMs = now() - t0;
  const first: number[] = [];
  const warm: number[] = [];
  const nats: number[] = [];
  const connectMs: number[] = [];
  const stages = { toJoined: [] as number[], toOnline: [] as number[], toStarted: [] as number[], toRunning: [] as number[] };
  const errorSamples = new Set<string>();
  let missing = 0;
  let connectedNotRunning = 0;
  const notRunning: Tab[] = [];
  let errors = 0;
  for (const { tab, first: isFirst } of opened) {
    if (tab.connectedAt !== undefined) connectMs.push(tab.connectedAt - tab.t0);
    if (tab.error !== undefined && tab.runningAt === undefined) {
      errors++;
      errorSamples.add(tab.error);
      continue;
    }
    if (tab.runningAt === undefined) {
      missing++;
      if (tab.socket.connected) {
        connectedNotRunning++;
        notRunning.push(tab);
      }
      continue;
    }
    (isFirst ? first : warm).push(tab.runningAt - tab.t0);
    if (isFirst) {
      const started = tab.user.started.find((t) => t >= tab.t0);
      if (started !== undefined) nats.push(started - tab.t0);
      const joined = tab.user.joined.find((t) => t >= tab.t0);
      const online = tab.user.online.find((t) => t >= tab.t0);
      if (joined !== undefined && online !== undefined && started !== undefined && online >= joined && started >= online && tab.runningAt >= started) {
        stages.toJoined.push(joined - tab.t0);
        stages.toOnline.push(online - joined);
        stages.toStarted.push(started - online);
        stages.toRunning.push(tab.runningAt - started);
      }
    }
  }
  return { tabs: opened.length, users: specs.length, first, warm, nats, connect: connectMs, stages, missing, connectedNotRunning, notRunningLastState: byLastState(notRunning), errors, errorSamples: [...errorSamples].slice(0, 5), scheduleMs, elapsedMs };
}

function close(userIds?: string[]): number {
  const list = userIds ? userIds.map((id) => users.get(id)).filter((u): u is User => !!u) : [...users.values()];
  let n = 0;
  for (const u of list) {
    for (const tab of [...u.tabs]) {
      closeTab(tab);
      n++;
    }
    users.delete(u.id);
  }
  return n;
}

/** Every tab drops its transport at once, as a network blip would; Socket.IO reconnects with its jitter. */
async function storm(timeoutMs: number, cleanupTimeoutMs: number): Promise<StormResult> {
  const tabs = [...users.values()].flatMap((u) => u.tabs);
  const stormUsers = [...new Set(tabs.map((t) => t.user))];
  const startedBefore = new Map(stormUsers.map((u) => [u, u.started.length]));
  const stoppedBefore = new Map(stormUsers.map((u) => [u, u.stopped.length]));
  const t0 = now();
  logT0 = t0;
  for (const u of stormUsers) u.log = [];
  for (const tab of tabs) {
    tab.droppedAt = now();
    tab.backAt = undefined;
    tab.backRunningAt = undefined;
    // Closing the engine (not the socket) is a lost connection to Socket.IO: it reconnects.
    tab.socket.io.engine.close();
  }
  await until(() => tabs.every((t) => t.backRunningAt !== undefined), timeoutMs);
  // Late stops would show up within the cleanup timeout of the last drop: wait it out.
  await sleep(Math.max(0, cleanupTimeoutMs + 1000 - (now() - t0)));
  const backMs = tabs.filter((t) => t.backAt !== undefined).map((t) => t.backAt! - t.droppedAt!);
  let usersAwayTooLong = 0;
  let stops = 0;
  let starts = 0;
  let spuriousStops = 0;
  for (const u of stormUsers) {
    const mine = tabs.filter((t) => t.user === u);
    // The user was back when their first tab reconnected; away from their last tab's drop.
    const lastDrop = Math.max(...mine.map((t) => t.droppedAt!));
    const firstBack = Math.min(...mine.map((t) => t.backAt ?? Infinity));
    const tooLong = firstBack - lastDrop >= cleanupTimeoutMs;
    if (tooLong) usersAwayTooLong++;
    const s = u.stopped.length - stoppedBefore.get(u)!;
    stops += s;
    starts += u.started.length - startedBefore.get(u)!;
    if (!tooLong) spuriousStops += s;
  }
  const stuckLogs = [...new Set(tabs.filter((t) => t.backAt !== undefined && t.backRunningAt === undefined).map((t) => t.user))]
    .slice(0, 3)
    .map((u) => `${u.id}: ${(u.log ?? []).join(' ')}`);
  for (const u of stormUsers) u.log = undefined;
  const back = tabs.filter((t) => t.backAt !== undefined);
  const running = tabs.filter((t) => t.backRunningAt !== undefined);
  return {
    tabs: tabs.length,
    users: stormUsers.length,
    tabsBack: back.length,
    tabsRunning: running.length,
    backMs,
    timeToAllBackMs: back.length === tabs.length ? Math.max(...back.map((t) => t.backAt! - t0)) : null,
    timeToAllRunningMs: running.length === tabs.length ? Math.max(...running.map((t) => t.backRunningAt! - t0)) : null,
    notBack: [
      ...new Set([
        ...tabs.filter((t) => t.backAt === undefined).map((t) => `not reconnected: ${t.lastError ?? 'no error seen'}`),
        ...tabs.filter((t) => t.backAt !== undefined && t.backRunningAt === undefined).map((t) => `reconnected, last manager state ${t.lastState ?? 'none'}`),
      ]),
    ].slice(0, 5),
    stuckLogs,
    usersAwayTooLong,
    stops,
    starts,
    spuriousStops,
  };
}

/**
 * Sessions join and leave at `rate` per second (half each) among the users already open. A leave
 * closes a random tab; a join opens a tab for a user who has none left (so every absence is short)
 * or else for a random user with fewer than three tabs.
 */
async function churn(args: ChurnArgs): Promise<ChurnResult> {
  const pool = [...users.values()];
  logT0 = now();
  for (const u of pool) u.log = [];
  const live: Tab[] = pool.flatMap((u) => u.tabs);
  const away: User[] = [];
  const startedBefore = new Map(pool.map((u) => [u, u.started.length]));
  const stoppedBefore = new Map(pool.map((u) => [u, u.stopped.length]));
  /** awaySince: for a returning user, when their last tab closed. */
  const joinTabs: Array<{ tab: Tab; returning: boolean; awaySince?: number }> = [];
  let joins = 0;
  let leaves = 0;
  const steps = Math.floor((args.rate * args.durationMs) / 1000);
  let skippedLeaves = 0;
  const elapsed = await paced(steps, args.rate, (i) => {
    if (i % 2 === 1 && live.length > 0) {
      // A leave closes a session: a tab still connecting is not one yet.
      let k = Math.floor(Math.random() * live.length);
      for (let tries = 0; tries < 8 && !live[k].socket.connected; tries++) k = Math.floor(Math.random() * live.length);
      if (!live[k].socket.connected) {
        skippedLeaves++;
        return;
      }
      const tab = live[k];
      live[k] = live[live.length - 1];
      live.pop();
      closeTab(tab);
      leaves++;
      if (tab.user.tabs.length === 0) {
        tab.user.awaySince = now();
        away.push(tab.user);
      }
      return;
    }
    let user = away.shift();
    const returning = !!user;
    const awaySince = user?.awaySince;
    if (user) {
      user.awaySince = undefined;
    } else {
      for (let tries = 0; tries < 10 && !user; tries++) {
        const u = pool[Math.floor(Math.random() * pool.length)];
        if (u.tabs.length < 3) user = u;
      }
      user ??= pool[Math.floor(Math.random() * pool.length)];
    }
    const tab = openTab(user);
    live.push(tab);
    joinTabs.push({ tab, returning, awaySince });
    joins++;
  });
  // Users still away at the end come back now, so nobody's cleanup runs during the count.
  for (const u of away.splice(0)) {
    const awaySince = u.awaySince;
    u.awaySince = undefined;
    joinTabs.push({ tab: openTab(u), returning: true, awaySince });
  }
  await until(() => joinTabs.every(({ tab }) => !tab.open || tab.runningAt !== undefined || tab.error !== undefined), args.timeoutMs);
  // Let any late stop show up before counting.
  await sleep(args.cleanupTimeoutMs + 1000);
  const joinLatency: number[] = [];
  const returnLatency: number[] = [];
  let missing = 0;
  let errors = 0;
  for (const { tab, returning } of joinTabs) {
    if (tab.runningAt !== undefined) (returning ? returnLatency : joinLatency).push(tab.runningAt - tab.t0);
    else if (tab.error !== undefined) errors++;
    else if (tab.open) missing++;
  }
  // A stop is spurious when, as the gateways saw it, the user was back in time: from the last
  // `left` before the stop to the next `joined` is shorter than the timeout (50 ms of slack for
  // the generator seeing both events later than they happened).
  const t1 = logT0;
  let maxGapMs = 0;
  const tooLong = new Set<User>();
  const spurious = new Map<User, number>();
  for (const u of pool) {
    for (const stop of u.offline.filter((t) => t >= t1)) {
      const lastLeft = Math.max(...u.left.filter((t) => t <= stop));
      const nextJoin = Math.min(...u.joined.filter((t) => t > lastLeft));
      const gap = nextJoin - lastLeft;
      if (Number.isFinite(gap)) maxGapMs = Math.max(maxGapMs, gap);
      if (gap >= args.cleanupTimeoutMs - 50) tooLong.add(u);
      else spurious.set(u, (spurious.get(u) ?? 0) + 1);
    }
  }
  let starts = 0;
  let stops = 0;
  let spuriousStops = 0;
  let extraStarts = 0;
  const spuriousLogs: string[] = [];
  for (const u of pool) {
    const s = u.stopped.length - stoppedBefore.get(u)!;
    const st = u.started.length - startedBefore.get(u)!;
    stops += s;
    starts += st;
    const n = spurious.get(u) ?? 0;
    spuriousStops += n;
    // Each spurious stop is followed by a start the user should not have needed.
    extraStarts += Math.min(n, st);
    if (n > 0 && spuriousLogs.length < 3) spuriousLogs.push(`${u.id}: ${(u.log ?? []).join(' ')}`);
    u.log = undefined;
  }
  return {
    joins,
    leaves,
    skippedLeaves,
    joinLatency,
    returnLatency,
    returns: returnLatency.length,
    maxGapMs,
    usersAwayTooLong: tooLong.size,
    starts,
    stops,
    spuriousStops,
    extraStarts,
    spuriousLogs,
    missing,
    errors,
    achievedRate: (steps / elapsed) * 1000,
  };
}

/** Tabs counted by the last `manager` state they were sent ('none': none yet). */
function byLastState(tabs: Tab[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tabs) out[t.lastState ?? 'none'] = (out[t.lastState ?? 'none'] ?? 0) + 1;
  return out;
}

function status(): GenStatus {
  const tabs = [...users.values()].flatMap((u) => u.tabs);
  const connected = tabs.filter((t) => t.socket.connected);
  return { tabs: tabs.length, connected: connected.length, connectedByState: byLastState(connected), users: users.size, rssBytes: process.memoryUsage().rss };
}

async function handle(c: GenCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'init':
      return setup(c.args);
    case 'open':
      return open(c.args);
    case 'close':
      return close(c.args.userIds);
    case 'record':
      return record(c.args.on);
    case 'storm':
      return storm(c.args.timeoutMs, c.args.cleanupTimeoutMs);
    case 'churn':
      return churn(c.args);
    case 'status':
      return status();
    case 'exit':
      close();
      await nc?.close();
      setTimeout(() => process.exit(0), 50);
      return true;
  }
}

process.on('message', (m: { id: number } & GenCommand) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? err.stack : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
