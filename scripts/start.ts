/**
 * npm start: the three apps as three Node processes, every line prefixed with its app, NATS and
 * Redis started locally when they are not running and can be. Ctrl-C stops everything gracefully.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { APP_NODE_FLAGS, ConfigError, loadConfig } from '#libs/config/index.js';
import { redactUrl } from '#libs/nats/connection.js';
import { findBinary, isLocalHost, probe, startNatsServer, startRedisServer, waitForPort } from './services.js';
import { helpRequested } from './cli.js';
import { ensureNatsStore } from './nats-store.js';

const USAGE = `usage: npm start
  builds, then runs gateway, presence and stream-workers as three processes, each line prefixed
  with its app; Ctrl-C stops them gracefully. Starts nats-server -js (its JetStream data kept in
  .data/nats, or NATS_STORE_DIR; npm run reset empties it) and redis-server when nothing answers at
  NATS_URL / REDIS_URL on this machine.
environment: every variable of docs/CONFIGURATION.md`;

if (helpRequested(process.argv.slice(2))) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const APPS = ['presence', 'stream-workers', 'gateway'] as const;
const COLORS: Record<string, string> = { gateway: '36', presence: '35', 'stream-workers': '33', nats: '90', redis: '90', start: '32' };
const width = Math.max(...APPS.map((a) => a.length));
const tty = process.stdout.isTTY;

function say(app: string, line: string) {
  const label = `[${app}]`.padEnd(width + 2);
  process.stdout.write(`${tty ? `\x1b[${COLORS[app] ?? '0'}m${label}\x1b[0m` : label} ${line}\n`);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

// Development mode unless NODE_ENV is set: the apps inherit it. Anything but `development` (unset
// included, for an app started on its own) is production rules.
process.env.NODE_ENV ??= 'development';

let config;
try {
  config = loadConfig();
} catch (err) {
  fail(err instanceof ConfigError ? `configuration error: ${err.message}` : String(err));
}

const services: ChildProcess[] = [];

async function ensure(name: 'nats' | 'redis', rawUrl: string, defaultPort: number) {
  const url = new URL(rawUrl);
  const port = Number(url.port || defaultPort);
  if (await probe(url.hostname, port)) return;
  const binary = name === 'nats' ? 'nats-server' : 'redis-server';
  const hint = `nothing answers at ${redactUrl(rawUrl)}; bring it up with: docker compose up -d nats redis`;
  if (!isLocalHost(url.hostname) || !findBinary(binary)) fail(`${name}: ${hint}`);
  say('start', `${name} is not running at ${redactUrl(rawUrl)}: starting ${binary} on port ${port}`);
  let child: ChildProcess;
  if (name === 'nats') {
    const store = ensureNatsStore();
    say('start', `JetStream data (the audit trail) kept in ${store}; npm run reset empties it`);
    child = startNatsServer(port, store);
  } else child = startRedisServer(port);
  services.push(child);
  if (!(await waitForPort(url.hostname, port, 10_000))) fail(`${name}: ${binary} did not start; ${hint}`);
}

// A cluster's list, or Sentinels, are run by the operator: only a single local server is started here.
if (!config.natsUrl.includes(',')) await ensure('nats', config.natsUrl, 4222);
if (/^rediss?:/.test(config.redisUrl)) await ensure('redis', config.redisUrl, 6379);

const children = new Map<string, ChildProcess>();
let stopping = false;

/** An app that ran this long and then died was crashed (or killed by hand): start it again. */
const RESTART_AFTER_UPTIME_MS = 10_000;

function run(app: (typeof APPS)[number]) {
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['--enable-source-maps', ...APP_NODE_FLAGS[app], join(root, 'dist', 'apps', app, 'main.js')], {
    cwd: root,
    env: { ...process.env, INSTANCE_ID: process.env.INSTANCE_ID ? `${process.env.INSTANCE_ID}-${app}` : undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(app, child);
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => say(app, line.replace(new RegExp(`^\\[${app}\\] `), '')));
  }
  child.on('exit', (code, signal) => {
    children.delete(app);
    if (stopping) {
      if (children.size === 0) for (const s of services) s.kill('SIGTERM');
      return;
    }
    // A crash after a while (a kill -9 by hand, say) is survivable: the system converges and the
    // app comes back. One at start is a configuration problem: stop everything and say so.
    if (Date.now() - startedAt >= RESTART_AFTER_UPTIME_MS) {
      say('start', `${app} exited (${signal ?? code}); starting it again`);
      setTimeout(() => {
        if (!stopping) run(app);
      }, 1000);
      return;
    }
    say('start', `${app} exited (${signal ?? code}); stopping the others`);
    process.exitCode = 1;
    shutdown();
  });
}

for (const app of APPS) run(app);
say('start', `dashboard: http://localhost:${config.gatewayPort}/dashboard   board: http://localhost:${config.presencePort}/queues`);

function shutdown() {
  if (stopping) return;
  stopping = true;
  say('start', 'stopping gracefully…');
  for (const child of children.values()) child.kill('SIGTERM');
  if (children.size === 0) for (const s of services) s.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    for (const s of services) s.kill('SIGKILL');
    process.exit(process.exitCode ?? 1);
  }, 15_000).unref();
}

process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
