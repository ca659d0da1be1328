import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { askNode } from './redis-node.js';
import { findBinary, waitForPort } from '../../scripts/services.js';

export const MASTER_NAME = 'e2emaster';

interface Proc {
  port: number;
  dir: string;
  child?: ChildProcess;
}

/**
 * Redis as Sentinel runs it, on this machine: two data nodes (a primary and its replica) and three
 * Sentinels, each process with its own port and its own temp dir (a replica's sync and a Sentinel's
 * rewritten config land there, never in the repository). Data nodes can be killed and restarted;
 * the Sentinels then make the restarted one a replica of whoever is primary.
 */
export class RedisSentinelSet {
  readonly data: Proc[] = [];
  readonly sentinels: Proc[] = [];

  constructor(private readonly freePort: () => Promise<number>) {}

  /** REDIS_URL as the apps take it. */
  get url() {
    return `redis-sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`;
  }

  async start() {
    for (let i = 0; i < 2; i++) this.data.push({ port: await this.freePort(), dir: mkdtempSync(join(tmpdir(), 'e2e-redis-ha-')) });
    for (let i = 0; i < 3; i++) this.sentinels.push({ port: await this.freePort(), dir: mkdtempSync(join(tmpdir(), 'e2e-sentinel-')) });
    await this.startData(0);
    await this.startData(1, this.data[0].port);
    await until(async () => /master_link_status:up/.test(await this.ask(this.data[1].port, (r) => r.info('replication'))), 'the replica in sync');
    await Promise.all(this.sentinels.map((_, i) => this.startSentinel(i)));
    await until(async () => (await this.ask(this.sentinels[0].port, (r) => r.call('SENTINEL', 'sentinels', MASTER_NAME)) as unknown[]).length === 2, 'the Sentinels to know each other');
  }

  /** A data node on its port and dir, as a replica of `replicaOf` when given. */
  async startData(i: number, replicaOf?: number) {
    const p = this.data[i];
    const args = ['--port', String(p.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hz', '100', '--dir', p.dir];
    if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    p.child = spawn(findBinary('redis-server') ?? 'redis-server', args, { stdio: 'ignore' });
    if (!(await waitForPort('127.0.0.1', p.port, 10_000))) throw new Error(`redis-server did not start on port ${p.port}`);
  }

  private async startSentinel(i: number) {
    const s = this.sentinels[i];
    const file = join(s.dir, 'sentinel.conf');
    writeFileSync(
      file,
      [
        `port ${s.port}`,
        'bind 127.0.0.1',
        `dir ${s.dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${this.data[0].port} 2`,
        // Longer than health's freshness window (3 s), so that a dead primary shows in /health.
        `sentinel down-after-milliseconds ${MASTER_NAME} 4000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    s.child = spawn(findBinary('redis-server') ?? 'redis-server', [file, '--sentinel'], { stdio: 'ignore' });
    if (!(await waitForPort('127.0.0.1', s.port, 10_000))) throw new Error(`redis-sentinel did not start on port ${s.port}`);
  }

  /** The port of the data node the Sentinels call primary now. */
  async primaryPort(): Promise<number> {
    const [, port] = (await this.ask(this.sentinels[0].port, (r) => r.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME))) as [string, string];
    return Number(port);
  }

  indexOfPort(port: number) {
    return this.data.findIndex((d) => d.port === port);
  }

  /** `SENTINEL FAILOVER`: the replica is promoted, the primary demoted, as an operator does it. */
  async failover() {
    await this.ask(this.sentinels[0].port, (r) => r.call('SENTINEL', 'failover', MASTER_NAME));
  }

  /**
   * SIGSTOP of a Sentinel: the kernel still accepts connections on its port, but nothing answers
   * them until resumeSentinel, so a client asking it waits instead of hearing a refusal.
   */
  pauseSentinel(i: number) {
    this.sentinels[i].child?.kill('SIGSTOP');
  }

  resumeSentinel(i: number) {
    this.sentinels[i].child?.kill('SIGCONT');
  }

  async killData(i: number, signal: NodeJS.Signals = 'SIGKILL') {
    await stop(this.data[i].child, signal);
  }

  async stop() {
    await Promise.all([...this.data, ...this.sentinels].map((p) => stop(p.child, 'SIGKILL')));
  }

  /** One command to the node on `port` (see askNode). */
  ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return askNode(port, fn);
  }
}

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

async function until(fn: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
