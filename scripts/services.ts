import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Helpers shared by `npm start` and the test harness: find, probe and start NATS and Redis. */

export function findBinary(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

export function isLocalHost(host: string): boolean {
  return ['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0'].includes(host);
}

/** True when something accepts TCP connections at host:port within the timeout. */
export function probe(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe(host, port, 300)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** `monitorPort`: also serve nats-server's monitoring endpoints (/connz, /varz, /jsz) there. */
export function startNatsServer(port: number, storeDir = mkdtempSync(join(tmpdir(), 'nats-js-')), monitorPort?: number): ChildProcess {
  const bin = findBinary('nats-server');
  if (!bin) throw new Error('nats-server is not installed');
  const monitor = monitorPort ? ['-m', String(monitorPort)] : [];
  return spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...monitor], { stdio: 'ignore' });
}

/** `dir`: where a replica's full sync may write its RDB file (never the caller's working directory). */
export function startRedisServer(port: number, dir = mkdtempSync(join(tmpdir(), 'redis-'))): ChildProcess {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error('redis-server is not installed');
  // hz 100: Redis checks blocked clients' timeouts ten times more often, which BullMQ's delayed
  // jobs ride on.
  return spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hz', '100', '--dir', dir], { stdio: 'ignore' });
}

export function redisCliAvailable(): boolean {
  return spawnSync('redis-cli', ['--version']).status === 0;
}
