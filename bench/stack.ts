import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { AppProcess, Backends, freePort, ROOT, TEST_SECRET, until, type AppName } from '../test/support/harness.js';
import { parseMetrics, type Samples } from './prom.js';

export interface StackConfig {
  cleanupTimeoutMs: number;
  logLevel: string;
  workerLogLevel: string;
  consoleLoggerIntervalMs: number;
  /** Node flags for the apps (e.g. --cpu-prof). */
  execArgv?: string[];
  /** Each app's own flags (APP_NODE_FLAGS), as `npm start` gives them; false to measure without. */
  appFlags: boolean;
  /** Gateway processes: more than one when one process may not hold every socket (descriptors). */
  gateways: number;
}

/**
 * The real stack for the bench: a private nats-server -js and redis-server on free ports (the
 * e2e harness's Backends) and the three built apps (its AppProcess), one process each.
 */
export class BenchStack {
  readonly backends = new Backends();
  apps: Record<AppName, AppProcess> = {} as Record<AppName, AppProcess>;
  gateways: AppProcess[] = [];
  nc!: NatsConnection;
  env: Record<string, string> = {};
  private stopped = false;

  constructor(readonly config: StackConfig) {}

  async start() {
    await this.backends.start();
    this.env = {
      NATS_URL: this.backends.natsUrl,
      REDIS_URL: this.backends.redisUrl,
      AUTH_JWT_SECRET: TEST_SECRET,
      CLEANUP_TIMEOUT_MS: String(this.config.cleanupTimeoutMs),
      CONSOLE_LOGGER_INTERVAL_MS: String(this.config.consoleLoggerIntervalMs),
      LOG_LEVEL: this.config.logLevel,
      // A user may hold more tabs than the default cap in the bench's random walks.
      MAX_SESSIONS_PER_USER: '50',
      // The generator's thousands of users share four source addresses; real users each have their
      // own, so the per-address handshake budget (a flood guard) must not throttle the load.
      HANDSHAKE_RATE: '1000000',
      HANDSHAKE_BURST: '1000000',
    };
    this.nc = await connect(natsConnectionOptions(this.backends.natsUrl, 'bench'));
    await this.add('stream-workers', 'STREAM_WORKERS_PORT', { LOG_LEVEL: this.config.workerLogLevel });
    await this.add('presence', 'PRESENCE_PORT');
    for (let i = 0; i < this.config.gateways; i++) this.gateways.push(await this.add('gateway', 'GATEWAY_PORT'));
  }

  private async add(app: AppName, portVar: string, extra: Record<string, string> = {}) {
    const port = await freePort();
    // Each app as its own NATS user, as in production and the e2e tests.
    const p = new AppProcess(app, { ...this.env, NATS_URL: this.backends.natsUrlAs(app), [portVar]: String(port), INSTANCE_ID: `bench-${app}-${port}`, ...extra }, port, this.config.execArgv, this.config.appFlags);
    this.apps[app] ??= p;
    await p.start();
    return p;
  }

  get gatewayUrls() {
    return this.gateways.map((g) => g.url);
  }

  /** Every app process by a name: gateway, gateway-2, ..., presence, stream-workers. */
  named(): Array<[string, AppProcess]> {
    return [...this.gateways.map((g, i) => [i === 0 ? 'gateway' : `gateway-${i + 1}`, g] as [string, AppProcess]), ['presence', this.apps.presence], ['stream-workers', this.apps['stream-workers']]];
  }

  pids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, p] of this.named()) if (p?.child?.pid) out[name] = p.child.pid;
    if (this.backends.nats?.pid) out['nats-server'] = this.backends.nats.pid;
    if (this.backends.redis?.pid) out['redis-server'] = this.backends.redis.pid;
    return out;
  }

  async metrics(app: AppName | AppProcess): Promise<Samples> {
    const res = await fetch(`${(typeof app === 'string' ? this.apps[app] : app).url}/metrics`);
    return parseMetrics(await res.text());
  }

  async request<T>(subject: string, body: unknown = undefined, timeoutMs = 5000): Promise<T> {
    const m = await this.nc.request(subject, body === undefined ? '' : JSON.stringify(body), { timeout: timeoutMs });
    return JSON.parse(m.string()) as T;
  }

  async stats(): Promise<{ users: number; sessions: number; pendingCleanups: number; managers: number }> {
    return this.request('presence.query.stats');
  }

  /** Waits until presence counts no manager, no session and no pending cleanup. */
  async quiesce(timeoutMs: number) {
    await until('the stack to be idle', async () => {
      const s = await this.stats().catch(() => null);
      return s && s.managers === 0 && s.sessions === 0 && s.pendingCleanups === 0;
    }, timeoutMs, 200);
  }

  /** SIGTERM lets a --cpu-prof app write its profile; SIGKILL otherwise. */
  async stop(graceful = false) {
    // Twice would wait forever on the closed NATS connection.
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.named().filter(([, a]) => a).map(([, a]) => a.kill(graceful ? 'SIGTERM' : 'SIGKILL')));
    this.keepLogs();
    await this.nc?.close().catch(() => undefined);
    await this.backends.stop();
  }

  private keepLogs() {
    try {
      mkdirSync(BENCH_LOGS, { recursive: true });
      for (const [name, app] of this.named()) if (app) writeFileSync(join(BENCH_LOGS, `${name}.log`), `${app.lines.join('\n')}\n`);
    } catch (err) {
      process.stderr.write(`[bench] could not keep the apps' logs: ${(err as Error).message}\n`);
    }
  }
}

/** The apps' output (warnings and errors at the bench's log level), for a run that needs explaining. */
export const BENCH_LOGS = join(ROOT, 'bench-logs');

/** The naive single process of bench/naive, run from dist like the apps. */
export class NaiveProcess {
  child?: ChildProcess;
  port = 0;

  constructor(readonly env: Record<string, string>) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    this.child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'naive', 'server.js')], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, GATEWAY_PORT: String(this.port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until('naive /health', async () => (await fetch(`${this.url}/health`).then((r) => r.ok).catch(() => false)) || null, 15_000, 50);
  }

  async stats(): Promise<{ sessions: number; users: number; managers: number; lateness: number[] }> {
    return (await fetch(`${this.url}/stats`)).json() as Promise<{ sessions: number; users: number; managers: number; lateness: number[] }>;
  }

  async reset() {
    await fetch(`${this.url}/reset`);
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}
