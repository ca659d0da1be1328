import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { io, type Socket } from 'socket.io-client';
import { signToken } from '../../libs/auth/token.js';
import { startNatsServer, startRedisServer, waitForPort } from '../../scripts/services.js';

/**
 * End-to-end harness: a private nats-server and redis-server per test file (so suites never see
 * each other's subjects or keys, and can be killed and restarted), the real built apps as child
 * processes, real Socket.IO clients and a NATS observer.
 */

/** The repository root, from test/support (ts-jest) or dist/test/support (the compiled bench). */
export const ROOT = findRoot(import.meta.dirname);

function findRoot(from: string): string {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (resolve(dir, '..') === dir) return resolve(from, '..', '..');
  }
}
export const TEST_SECRET = 'test-secret-0123456789abcdefghij';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
    srv.on('error', rej);
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

export class Backends {
  nats?: ChildProcess;
  redis?: ChildProcess;
  natsPort = 0;
  redisPort = 0;
  private natsStore = mkdtempSync(join(tmpdir(), 'e2e-nats-'));

  get natsUrl() {
    return `nats://127.0.0.1:${this.natsPort}`;
  }
  get redisUrl() {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  async start() {
    this.natsPort ||= await freePort();
    this.redisPort ||= await freePort();
    await Promise.all([this.startNats(), this.startRedis()]);
  }

  async startNats() {
    this.nats = startNatsServer(this.natsPort, this.natsStore);
    if (!(await waitForPort('127.0.0.1', this.natsPort, 10_000))) throw new Error('nats-server did not start');
  }

  async startRedis() {
    this.redis = startRedisServer(this.redisPort);
    if (!(await waitForPort('127.0.0.1', this.redisPort, 10_000))) throw new Error('redis-server did not start');
  }

  async stopNats(signal: NodeJS.Signals = 'SIGTERM') {
    await killAndWait(this.nats, signal);
  }

  async stopRedis(signal: NodeJS.Signals = 'SIGKILL') {
    await killAndWait(this.redis, signal);
  }

  async stop() {
    await Promise.all([this.stopNats('SIGKILL'), this.stopRedis('SIGKILL')]);
  }
}

async function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

export type AppName = 'gateway' | 'presence' | 'stream-workers';

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
  ) {
    this.port = port;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(waitHealthy = true) {
    this.child = spawn(process.execPath, [...this.execArgv, join(ROOT, 'dist', 'apps', this.app, 'main.js')], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, NODE_ENV: 'test' },
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
}

/** Backends plus the three apps (optionally several gateways and workers). */
export class Stack {
  readonly backends = new Backends();
  gateways: AppProcess[] = [];
  presences: AppProcess[] = [];
  workers: AppProcess[] = [];
  observer!: Observer;
  env: Record<string, string> = {};

  constructor(private readonly opts: StackOptions = {}) {}

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
      ...this.opts.env,
    };
    this.observer = await Observer.connect(this.backends.natsUrl);
    for (let i = 0; i < (this.opts.workers ?? 1); i++) await this.addApp('stream-workers');
    await this.addApp('presence');
    for (let i = 0; i < (this.opts.gateways ?? 1); i++) await this.addApp('gateway');
  }

  async addApp(app: AppName, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const port = await freePort();
    const list = app === 'gateway' ? this.gateways : app === 'presence' ? this.presences : this.workers;
    const portVar = app === 'gateway' ? 'GATEWAY_PORT' : app === 'presence' ? 'PRESENCE_PORT' : 'STREAM_WORKERS_PORT';
    const p = new AppProcess(app, { ...this.env, [portVar]: String(port), INSTANCE_ID: `${app}-${list.length + 1}-${port}`, ...extraEnv }, port);
    list.push(p);
    await p.start();
    return p;
  }

  async stop() {
    await Promise.all(this.apps.map((a) => a.kill('SIGKILL')));
    await this.observer?.close();
    await this.backends.stop();
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

  constructor(
    readonly stack: Stack | null,
    url: string,
    auth: Record<string, unknown>,
    query?: Record<string, string>,
  ) {
    this.socket = io(`${url}/presence`, { auth, query, transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket.on('manager', (m) => this.managerEvents.push(m));
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

  static async connect(url: string) {
    const nc = await connect({ servers: url, name: 'e2e-observer', maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const o = new Observer(nc);
    o.sub = nc.subscribe('>', {
      callback: (_e, m) => {
        if (m.subject.startsWith('$') || m.subject.startsWith('_INBOX')) return;
        // A JetStream consumer's delivery of a stored message, not a new publish.
        if (m.reply?.startsWith('$JS.ACK.')) return;
        let data: Record<string, unknown> = {};
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

  publish(subject: string, body: string) {
    this.nc.publish(subject, body);
  }

  async close() {
    this.sub?.unsubscribe();
    await this.nc.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
/** A user id of its own for every test, so tests in one stack never share state. */
export const uniqueUser = (name: string) => `${name}-${process.pid}-${++counter}`;
