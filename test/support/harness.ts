import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { io, type Socket } from 'socket.io-client';
import { signToken } from '../../libs/auth/token.js';
import { findBinary, startRedisServer, waitForPort } from '../../scripts/services.js';
import { natsConnectionOptions } from '../../libs/nats/connection.js';
import { InternalSubjects } from '../../libs/contracts/subjects.js';
import { APP_NODE_FLAGS } from '../../libs/config/node-flags.js';
import { NatsCluster } from './nats-cluster.js';
import { RedisSentinelSet } from './redis-sentinel.js';
import { RedisClusterSet } from './redis-cluster.js';
import { natsServerEnv, testNatsConf, withIdentity, type NatsIdentity } from './nats-auth.js';

/**
 * End-to-end harness: a private nats-server and redis-server per test file (so suites never see
 * each other's subjects or keys, and can be killed and restarted), the real built apps as child
 * processes, real Socket.IO clients and a NATS observer.
 */

/** The repository root, from test/support (ts-jest) or dist/test/support (compiled with the bench by `npm run build:bench`). */
export const ROOT = findRoot(import.meta.dirname);

function findRoot(from: string): string {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (resolve(dir, '..') === dir) return resolve(from, '..', '..');
  }
}
export const TEST_SECRET = 'test-secret-0123456789abcdefghij';

/**
 * A port nobody listens on, below the kernel's ephemeral range (32768+): a port that `listen(0)`
 * hands out is an ephemeral one, and by the time the app binds it an outgoing connection (a load
 * test, another suite's clients) may be using it, so the app fails with EADDRINUSE.
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found between 20000 and 32000');
}

function canListen(port: number, host = '::'): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      // A host without IPv6: ask IPv4's wildcard instead.
      if (host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) res(canListen(port, '0.0.0.0'));
      else res(false);
    });
    // '::' also covers 127.0.0.1 on a dual-stack host, as the apps listen.
    srv.listen(port, host, () => srv.close(() => res(true)));
  });
}

export async function until<T>(what: string, fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Back ends that differ from the plain default: auth, TLS (the apps get the URLs below). */
export interface BackendsOptions {
  /** A JetStream cluster of this many nats-servers instead of one (NATS_URL lists them all). */
  natsCluster?: number;
  /** Redis as a primary, a replica and three Sentinels (REDIS_URL is redis-sentinel://). */
  redisSentinel?: boolean;
  /**
   * Redis as a Cluster of three primaries (REDIS_URL is redis-cluster://). TEST_REDIS=cluster
   * makes it the default of every suite that asks for no particular Redis, so the same suites run
   * against a Cluster (`npm run test:cluster`).
   */
  redisCluster?: boolean;
  nats?: {
    /** nats-server config file text for this port and JetStream store directory. */
    config: (port: number, storeDir: string) => string;
    url: (port: number) => string;
    /** What a test-side client (the Observer) needs on top of the URL, e.g. `{ tls: { ca } }`. */
    clientOptions?: Partial<ConnectionOptions>;
  };
  redis?: {
    /** redis-server arguments for this port (replacing the defaults). */
    args: (port: number) => string[];
    url: (port: number) => string;
    /** Each app's own REDIS_URL (an ACL user per app), instead of `url`. */
    urlAs?: (app: AppName, port: number) => string;
  };
}

export class Backends {
  nats?: ChildProcess;
  redis?: ChildProcess;
  natsPort = 0;
  redisPort = 0;
  /** nats-server's HTTP monitoring port (/connz, /varz), as `nats-server -m` serves it. */
  natsMonitorPort = 0;
  private natsStore = mkdtempSync(join(tmpdir(), 'e2e-nats-'));
  /** Set when the options ask for a cluster: then `nats` and `natsPort` stay unused. */
  readonly natsCluster?: NatsCluster;
  /** Set when the options ask for Sentinel: then `redis` and `redisPort` stay unused. */
  readonly redisSentinel?: RedisSentinelSet;
  /** Set when the options (or TEST_REDIS=cluster) ask for a Cluster: then `redis` and `redisPort` stay unused. */
  readonly redisCluster?: RedisClusterSet;

  constructor(readonly opts: BackendsOptions = {}) {
    if (opts.natsCluster) this.natsCluster = new NatsCluster(opts.natsCluster, freePort);
    if (opts.redisSentinel) this.redisSentinel = new RedisSentinelSet(freePort);
    const clusterByDefault = process.env.TEST_REDIS === 'cluster' && !opts.redis && !opts.redisSentinel;
    if (opts.redisCluster || clusterByDefault) this.redisCluster = new RedisClusterSet(freePort);
  }

  /** The test's own all-seeing identity (`e2e`): for the observer and clients that play any part. */
  get natsUrl() {
    return this.natsUrlAs('e2e');
  }
  /**
   * NATS_URL for one identity: each app connects as its own role (test/support/nats-auth.ts).
   * A suite with its own nats config (`opts.nats`) gets that config's URL whoever asks.
   */
  natsUrlAs(who: NatsIdentity | 'anonymous', port?: number): string {
    if (this.opts.nats) return this.opts.nats.url(port ?? this.natsPort);
    return withIdentity(this.natsCluster ? this.natsCluster.url : `nats://127.0.0.1:${port ?? this.natsPort}`, who);
  }
  get natsMonitorUrl() {
    return `http://127.0.0.1:${this.natsMonitorPort}`;
  }
  get redisUrl() {
    if (this.redisSentinel) return this.redisSentinel.url;
    if (this.redisCluster) return this.redisCluster.url;
    return this.opts.redis ? this.opts.redis.url(this.redisPort) : `redis://127.0.0.1:${this.redisPort}`;
  }

  async start() {
    this.redisPort ||= await freePort();
    if (this.natsCluster) {
      await Promise.all([this.natsCluster.start().then(() => this.natsCluster!.ready()), this.startRedis()]);
      return;
    }
    this.natsPort ||= await freePort();
    this.natsMonitorPort ||= await freePort();
    await Promise.all([this.startNats(), this.startRedis()]);
  }

  /**
   * Started on this port, and verified to be ours: another test run on the machine may have taken
   * the port between freePort() and the bind, and then the server we spawned exits while the
   * other one answers. On a first start a new port is tried; on a restart (same port) it throws.
   */
  async startNats() {
    for (let attempt = 0; ; attempt++) {
      if (this.opts.nats) {
        const file = join(this.natsStore, 'nats.conf');
        writeFileSync(file, this.opts.nats.config(this.natsPort, this.natsStore));
        const monitor = this.natsMonitorPort ? ['-m', String(this.natsMonitorPort)] : [];
        this.nats = spawn(findBinary('nats-server') ?? 'nats-server', ['-c', file, ...monitor], { stdio: 'ignore' });
      } else {
        // The least-privilege configuration of deploy/nats/nats.conf (plus the test's observer).
        const file = join(this.natsStore, 'nats.conf');
        writeFileSync(file, testNatsConf());
        const monitor = this.natsMonitorPort ? ['-m', String(this.natsMonitorPort)] : [];
        const args = ['-c', file, '-a', '127.0.0.1', '-p', String(this.natsPort), '-js', '-sd', this.natsStore, ...monitor];
        this.nats = spawn(findBinary('nats-server') ?? 'nats-server', args, { stdio: 'ignore', env: { ...process.env, ...natsServerEnv() } });
      }
      const up = await waitForPort('127.0.0.1', this.natsPort, 10_000);
      // nats-server that cannot bind exits at once.
      await sleep(150);
      if (up && this.nats.exitCode === null && this.nats.signalCode === null) {
        this.startedOnce.add('nats');
        return;
      }
      this.nats.kill('SIGKILL');
      if (attempt >= 4 || this.natsStarted) throw new Error(`nats-server did not start on port ${this.natsPort}`);
      [this.natsPort, this.natsMonitorPort] = [await freePort(), this.natsMonitorPort && (await freePort())];
    }
  }
  private get natsStarted() {
    return this.startedOnce.has('nats');
  }
  private readonly startedOnce = new Set<string>();

  async startRedis() {
    if (this.redisSentinel) return this.redisSentinel.start();
    if (this.redisCluster) return this.redisCluster.start();
    for (let attempt = 0; ; attempt++) {
      this.redis = this.opts.redis ? spawn(findBinary('redis-server') ?? 'redis-server', this.opts.redis.args(this.redisPort), { stdio: 'ignore' }) : startRedisServer(this.redisPort);
      const up = await waitForPort('127.0.0.1', this.redisPort, 10_000);
      await sleep(150);
      if (up && this.redis.exitCode === null && this.redis.signalCode === null) {
        this.startedOnce.add('redis');
        return;
      }
      this.redis.kill('SIGKILL');
      if (attempt >= 4 || this.startedOnce.has('redis')) throw new Error(`redis-server did not start on port ${this.redisPort}`);
      this.redisPort = await freePort();
    }
  }

  async stopNats(signal: NodeJS.Signals = 'SIGTERM') {
    await killAndWait(this.nats, signal);
  }

  /** On a Cluster: every node (each comes back empty, keeping its slots). */
  async stopRedis(signal: NodeJS.Signals = 'SIGKILL') {
    await Promise.all([killAndWait(this.redis, signal), this.redisCluster?.stop(signal)]);
  }

  async stop() {
    await Promise.all([this.stopNats('SIGKILL'), this.stopRedis('SIGKILL'), this.natsCluster?.stop(), this.redisSentinel?.stop(), this.redisCluster?.stop()]);
  }
}

async function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

export type AppName = 'gateway' | 'presence' | 'stream-workers';

/** An app env value that means "this variable is not set at all" (NODE_ENV, to test the default). */
export const UNSET = '\u0000unset';

/** One app, run from dist/ exactly as `node dist/apps/<app>/main.js`, its output kept for asserts. */
export class AppProcess {
  child?: ChildProcess;
  lines: string[] = [];
  readonly port: number;

  constructor(
    readonly app: AppName,
    readonly env: Record<string, string>,
    port: number,
    /** Node flags before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
    readonly execArgv: string[] = [],
    /** The app's own flags (APP_NODE_FLAGS), as `npm start` gives them; off only to measure without them. */
    private readonly appFlags = true,
  ) {
    this.port = port;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(waitHealthy = true) {
    // Development mode, as `npm start` runs, unless the suite asks for production rules (Jest's own
    // NODE_ENV=test would be production: anything but `development` is). UNSET removes it.
    const env: Record<string, string> = { ...(process.env as Record<string, string>), NODE_ENV: 'development', ...this.env };
    if (env.NODE_ENV === UNSET) delete env.NODE_ENV;
    this.child = spawn(process.execPath, [...(this.appFlags ? APP_NODE_FLAGS[this.app] : []), ...this.execArgv, join(ROOT, 'dist', 'apps', this.app, 'main.js')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (buf: Buffer) => {
      for (const line of buf.toString().split('\n')) if (line) this.lines.push(line);
      if (process.env.E2E_VERBOSE) process.stdout.write(`[${this.app}] ${buf}`);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    if (waitHealthy) await this.healthy();
  }

  async healthy(timeoutMs = 20_000) {
    await until(`${this.app} /health 200`, async () => {
      if (this.child?.exitCode !== null) throw new Error(`${this.app} exited: ${this.lines.slice(-5).join('\n')}`);
      return (await fetch(`${this.url}/health`).then((r) => r.status === 200).catch(() => false)) || null;
    }, timeoutMs, 50);
  }

  get alive() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    await killAndWait(this.child, signal);
  }

  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  waitForLine(re: RegExp, timeoutMs = 10_000, from = 0) {
    return until(`${this.app} line ${re}`, () => this.lines.slice(from).find((l) => re.test(l)), timeoutMs);
  }
}

export interface StackOptions {
  env?: Record<string, string>;
  workers?: number;
  gateways?: number;
  backends?: BackendsOptions;
}

/** Backends plus the three apps (optionally several gateways and workers). */
export class Stack {
  readonly backends: Backends;
  gateways: AppProcess[] = [];
  presences: AppProcess[] = [];
  workers: AppProcess[] = [];
  observer!: Observer;
  env: Record<string, string> = {};
  /** Every tab opened on this stack: closed at stop, so a failed test leaves no client reconnecting (which keeps Jest alive). */
  readonly openTabs = new Set<Tab>();

  constructor(private readonly opts: StackOptions = {}) {
    this.backends = new Backends(opts.backends);
  }

  get gateway() {
    return this.gateways[0];
  }
  get presence() {
    return this.presences[0];
  }
  get worker() {
    return this.workers[0];
  }
  get apps() {
    return [...this.gateways, ...this.presences, ...this.workers];
  }

  async start() {
    await this.backends.start();
    this.env = {
      NATS_URL: this.backends.natsUrl,
      REDIS_URL: this.backends.redisUrl,
      AUTH_JWT_SECRET: TEST_SECRET,
      CLEANUP_TIMEOUT_MS: '1500',
      CONSOLE_LOGGER_INTERVAL_MS: '200',
      GATEWAY_TTL_MS: '3000',
      WORKER_TTL_MS: '3000',
      FAULT_INJECTION: '1',
      LOG_LEVEL: 'debug',
      // Rebalancing moves running managers whenever the load is uneven, which tests that name the
      // worker a user runs on cannot foresee: off unless a test asks for it (test/ha/placement).
      PLACEMENT_MOVES_PER_S: '0',
      ...this.opts.env,
    };
    this.observer = await Observer.connect(this.backends.natsUrl, this.opts.backends?.nats?.clientOptions);
    for (let i = 0; i < (this.opts.workers ?? 1); i++) await this.addApp('stream-workers');
    await this.addApp('presence');
    for (let i = 0; i < (this.opts.gateways ?? 1); i++) await this.addApp('gateway');
  }

  /**
   * Presence's first start on a fresh dataset asks the gateways, RESYNC_SETTLE_MS later, to announce
   * their sessions again. Joins stored after the state began are skipped (`afterSeq`), but one that
   * JetStream has not acknowledged yet is announced anyway, a second time under a resync message
   * id. Tests that count events exactly wait for that request first.
   */
  async firstResync(timeoutMs = 15_000) {
    await this.observer.waitFor(InternalSubjects.gatewayResync, timeoutMs);
  }

  async addApp(app: AppName, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const port = await freePort();
    const list = app === 'gateway' ? this.gateways : app === 'presence' ? this.presences : this.workers;
    const portVar = app === 'gateway' ? 'GATEWAY_PORT' : app === 'presence' ? 'PRESENCE_PORT' : 'STREAM_WORKERS_PORT';
    // Each app as its own NATS user, unless the suite chose a NATS_URL itself.
    const natsUrl: Record<string, string> = this.env.NATS_URL === this.backends.natsUrl ? { NATS_URL: this.backends.natsUrlAs(app) } : {};
    const redisAs = this.opts.backends?.redis?.urlAs;
    if (redisAs && this.env.REDIS_URL === this.backends.redisUrl) natsUrl.REDIS_URL = redisAs(app, this.backends.redisPort);
    const p = new AppProcess(app, { ...this.env, ...natsUrl, [portVar]: String(port), INSTANCE_ID: `${app}-${list.length + 1}-${port}`, ...extraEnv }, port);
    list.push(p);
    await p.start();
    return p;
  }

  async stop() {
    for (const t of this.openTabs) t.socket.disconnect();
    try {
      await Promise.all(this.apps.map((a) => a.kill('SIGKILL')));
      await this.observer?.close();
    } finally {
      await this.backends.stop();
    }
    // Every suite proves each app's NATS permissions are enough: a refused publish or subscription fails it.
    const refused = this.apps.flatMap((a) => a.grep(/permissions violation/i).map((l) => `${a.app}: ${l}`));
    if (refused.length > 0) throw new Error(`NATS refused an app's publish or subscription:\n${refused.slice(0, 5).join('\n')}`);
  }

  async token(userId: string, opts: { expiresIn?: string | number; secret?: string } = {}) {
    return signToken(opts.secret ?? TEST_SECRET, userId, { expiresIn: opts.expiresIn ?? '1h' });
  }

  /** A dashboard tab: a real Socket.IO client, connected (or refused). */
  async tab(userId: string, opts: { page?: string; gateway?: AppProcess } = {}): Promise<Tab> {
    const t = new Tab(this, (opts.gateway ?? this.gateway).url, { token: await this.token(userId), page: opts.page ?? '/dashboard' });
    await t.connected();
    return t;
  }
}

export class Tab {
  readonly socket: Socket;
  readonly managerEvents: Array<{ userId: string; state: string; workerId?: string; cleanupAt?: string }> = [];
  /** The `session` events: which session id the gateway gives this tab (again when it re-keys it). */
  readonly sessionEvents: Array<{ sessionId: string; userId: string; gatewayId: string }> = [];

  constructor(
    readonly stack: Stack | null,
    url: string,
    auth: Record<string, unknown>,
    query?: Record<string, string>,
    /** Extra client options, e.g. `localAddress: '127.0.0.2'` to connect from another address. */
    extra: Record<string, unknown> = {},
  ) {
    this.socket = io(`${url}/presence`, { auth, query, transports: ['websocket'], reconnection: false, forceNew: true, ...extra });
    stack?.openTabs.add(this);
    this.socket.on('manager', (m) => this.managerEvents.push(m));
    this.socket.on('session', (m) => this.sessionEvents.push(m));
  }

  connected(): Promise<void> {
    return new Promise((res, rej) => {
      if (this.socket.connected) return res();
      this.socket.once('connect', () => res());
      this.socket.once('connect_error', (e) => rej(e));
    });
  }

  refused(): Promise<string> {
    return new Promise((res, rej) => {
      this.socket.once('connect', () => rej(new Error('connected, expected a refusal')));
      this.socket.once('connect_error', (e) => res(e.message));
    });
  }

  waitManager(state: string, timeoutMs = 10_000) {
    return until(`manager state ${state}`, () => this.managerEvents.find((m) => m.state === state), timeoutMs);
  }

  close() {
    this.socket.disconnect();
  }
}

export interface Seen {
  subject: string;
  data: Record<string, unknown>;
  receivedAt: number;
}

/** Watches NATS like `nats sub '>'` would, and asks questions like `nats req` would. */
export class Observer {
  readonly seen: Seen[] = [];
  private sub?: Subscription;

  private constructor(readonly nc: NatsConnection) {}

  static async connect(url: string, extra?: Partial<ConnectionOptions>) {
    // Credentials and TLS in the URL are read the way the apps read them.
    const base = { ...natsConnectionOptions(url, 'e2e-observer'), ...extra };
    const nc = await connect({ ...base, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const o = new Observer(nc);
    o.sub = nc.subscribe('>', {
      callback: (_e, m) => {
        if (m.subject.startsWith('$') || m.subject.startsWith('_INBOX')) return;
        // A JetStream consumer's delivery of a stored message, not a new publish.
        if (m.reply?.startsWith('$JS.ACK.')) return;
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(m.string());
        } catch {
          data = { raw: m.string() };
        }
        o.seen.push({ subject: m.subject, data, receivedAt: Date.now() });
      },
    });
    await nc.flush();
    return o;
  }

  on(subject: string): Seen[] {
    return this.seen.filter((s) => s.subject === subject);
  }

  waitFor(subject: string, timeoutMs = 10_000, count = 1): Promise<Seen[]> {
    return until(`${count} × ${subject}`, () => {
      const found = this.on(subject);
      return found.length >= count ? found : undefined;
    }, timeoutMs);
  }

  async request<T = Record<string, unknown>>(subject: string, body: unknown = undefined, timeoutMs = 3000): Promise<T> {
    const msg = await this.nc.request(subject, body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body), { timeout: timeoutMs });
    return JSON.parse(msg.string()) as T;
  }

  /** Every reply to one request within `maxWait`, as the NATS CLI collects them for `$SRV.*`. */
  async requestAll<T = Record<string, unknown>>(subject: string, body = '', maxWait = 1000): Promise<T[]> {
    const out: T[] = [];
    for await (const m of await this.nc.requestMany(subject, body, { strategy: 'timer', maxWait })) out.push(JSON.parse(m.string()) as T);
    return out;
  }

  publish(subject: string, body: string) {
    this.nc.publish(subject, body);
  }

  /** As the gateway publishes: stored by JetStream, a repeated msgId dropped by its duplicate window. */
  async publishDurable(subject: string, body: string, msgId?: string): Promise<{ duplicate: boolean }> {
    const ack = await jetstream(this.nc).publish(subject, body, msgId ? { msgID: msgId } : undefined);
    return { duplicate: ack.duplicate };
  }

  async close() {
    this.sub?.unsubscribe();
    await this.nc.close();
  }
}

/** Every message stored in a stream, first to last, read like `nats stream view` does (an ordered consumer from the start). */
export async function readStream(nc: NatsConnection, stream: string): Promise<Array<Seen & { seq: number }>> {
  const js = jetstream(nc);
  const { state } = await (await jetstreamManager(nc)).streams.info(stream);
  const out: Array<Seen & { seq: number }> = [];
  if (state.messages === 0) return out;
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  while (out.length === 0 || out[out.length - 1].seq < state.last_seq) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      out.push({ subject: m.subject, data: JSON.parse(m.string()) as Record<string, unknown>, receivedAt: m.time.getTime(), seq: m.seq });
    }
    if (got === 0) break;
  }
  return out;
}

/** Runs a built script (`node dist/scripts/<name>.js args`) like `npm run <name> -- args` does. */
export function runScript(name: string, args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--no-warnings', join(ROOT, 'dist', 'scripts', `${name}.js`), ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'development', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${name} ${args.join(' ')} did not finish within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
/** A user id of its own for every test, so tests in one stack never share state. */
export const uniqueUser = (name: string) => `${name}-${process.pid}-${++counter}`;

/**
 * A TCP hop between clients and a server, whose cable can be cut: `cut()` black-holes both
 * directions without closing either socket (no FIN, no RST), as a dropped Wi-Fi or a pulled cable
 * looks to both ends; neither side learns anything until its own timeout fires.
 */
export class CableProxy {
  private server?: TcpServer;
  private readonly pairs: Array<{ client: TcpSocket; upstream: TcpSocket }> = [];
  private isCut = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, '127.0.0.1');
      this.pairs.push({ client, upstream });
      const forward = (from: TcpSocket, to: TcpSocket) => {
        from.on('data', (buf) => {
          if (!this.isCut && !to.destroyed) to.write(buf);
        });
        from.on('end', () => {
          if (!this.isCut) to.end();
        });
        from.on('error', () => undefined);
        from.on('close', () => {
          if (!this.isCut) to.destroy();
        });
      };
      forward(client, upstream);
      forward(upstream, client);
    });
    await new Promise<void>((res) => this.server!.listen(0, '127.0.0.1', () => res()));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** The cable is cut: bytes go nowhere, and nobody is told. */
  cut() {
    this.isCut = true;
  }

  /**
   * The cable is mended. The connections it carried lost bytes both ways, so they are reset (as
   * either end's own timeout would sooner or later do); new connections pass.
   */
  heal() {
    for (const { client, upstream } of this.pairs.splice(0)) {
      client.destroy();
      upstream.destroy();
    }
    this.isCut = false;
  }

  async close() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
  }
}

/**
 * A gateway played by the test: it heartbeats and answers "which sessions do you hold" like a real
 * one, so presence treats its sessions as live, while the test publishes session events on NATS
 * in any order, any number of times, plain or durable.
 */
export class FakeGateway {
  readonly sessions = new Map<string, { sessionId: string; userId: string; gatewayId: string; page: string; at: string }>();
  private timer?: NodeJS.Timeout;
  private sub?: Subscription;

  constructor(
    readonly observer: Observer,
    readonly gatewayId = `fake-gw-${process.pid}`,
  ) {}

  start(everyMs = 500) {
    const beat = () =>
      this.observer.publish(`presence.gateway.${this.gatewayId}.heartbeat`, JSON.stringify({ gatewayId: this.gatewayId, sessions: this.sessions.size, at: new Date().toISOString() }));
    beat();
    this.timer = setInterval(beat, everyMs);
    this.sub = this.observer.nc.subscribe(`presence.gateway.${this.gatewayId}.sessions`, {
      callback: (_e, m) => {
        m.respond(JSON.stringify({ gatewayId: this.gatewayId, sessions: [...this.sessions.values()] }));
      },
    });
    return this;
  }

  joinedPayload(userId: string, sessionId: string) {
    return { sessionId, userId, gatewayId: this.gatewayId, page: '/dashboard', at: new Date().toISOString() };
  }

  leftPayload(userId: string, sessionId: string, reason = 'closed') {
    return { sessionId, userId, gatewayId: this.gatewayId, reason, at: new Date().toISOString() };
  }

  /** Publishes a join (durable with the gateway's msgId unless `plain`) and holds the session. */
  async join(userId: string, sessionId: string, opts: { plain?: boolean; track?: boolean } = {}) {
    const payload = this.joinedPayload(userId, sessionId);
    if (opts.track ?? true) this.sessions.set(sessionId, payload);
    const subject = `presence.session.${userId}.joined`;
    if (opts.plain) return this.observer.publish(subject, JSON.stringify(payload));
    await this.observer.publishDurable(subject, JSON.stringify(payload), `${userId}-${sessionId}-joined`);
  }

  async leave(userId: string, sessionId: string, opts: { plain?: boolean; reason?: string } = {}) {
    this.sessions.delete(sessionId);
    const payload = this.leftPayload(userId, sessionId, opts.reason);
    const subject = `presence.session.${userId}.left`;
    if (opts.plain) return this.observer.publish(subject, JSON.stringify(payload));
    await this.observer.publishDurable(subject, JSON.stringify(payload), `${userId}-${sessionId}-left`);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.sub?.unsubscribe();
  }
}
