import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Redis } from 'ioredis';
import { askNode } from './redis-node.js';
import type { RedisClient } from '../../libs/redis/redis.js';
import { findBinary, waitForPort } from '../../scripts/services.js';

interface Node {
  port: number;
  /** The cluster bus port, chosen too: by default it is port + 10000, which may be taken (or ephemeral). */
  busPort: number;
  dir: string;
  child?: ChildProcess;
}

/**
 * A Redis Cluster of `size` primaries (no replicas) on this machine, each node with its own port
 * and temp dir (its nodes.conf lands there). No persistence: a node killed and started again keeps
 * its slots (nodes.conf) but comes back empty, which is a shard losing its data.
 */
export class RedisClusterSet {
  readonly nodes: Node[] = [];
  private created = false;

  constructor(
    private readonly freePort: () => Promise<number>,
    readonly size = 3,
  ) {}

  /** REDIS_URL as the apps take it: every node as a seed. */
  get url() {
    return `redis-cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  /** The first start creates the cluster; a later one restarts the stopped nodes (empty). */
  async start() {
    if (this.nodes.length === 0) {
      for (let i = 0; i < this.size; i++) this.nodes.push({ port: await this.freePort(), busPort: await this.freePort(), dir: mkdtempSync(join(tmpdir(), 'e2e-redis-cluster-')) });
    }
    await Promise.all(this.nodes.map((_, i) => this.startNode(i, !this.created)));
    if (!this.created) {
      const cli = spawnSync(
        findBinary('redis-cli') ?? 'redis-cli',
        ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (cli.status !== 0) throw new Error(`redis-cli --cluster create failed: ${cli.stdout}${cli.stderr}`);
      this.created = true;
    }
    await this.ready();
  }

  /** Every node says cluster_state:ok. */
  async ready(timeoutMs = 30_000) {
    await until(async () => {
      const states = await Promise.all(this.nodes.map((n) => this.ask(n.port, (r) => r.cluster('INFO'))));
      return states.every((s) => /cluster_state:ok/.test(String(s)));
    }, 'cluster_state:ok on every node', timeoutMs);
  }

  /**
   * Started on its ports and verified alive: another test may have taken a port between
   * freePort() and the bind, and then the server exits. Before the cluster exists new ports are
   * tried; a restart (the ports are in the cluster's config) throws.
   */
  async startNode(i: number, mayMove = false) {
    const n = this.nodes[i];
    if (n.child && n.child.exitCode === null && n.child.signalCode === null) return;
    for (let attempt = 0; ; attempt++) {
      const args = ['--port', String(n.port), '--cluster-port', String(n.busPort), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(n.dir, 'nodes.conf')];
      // hz 100: BullMQ's delayed jobs on time (see scripts/services.ts).
      args.push('--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--hz', '100', '--dir', n.dir);
      const child = spawn(findBinary('redis-server') ?? 'redis-server', args, { stdio: 'ignore' });
      n.child = child;
      const up = await waitForPort('127.0.0.1', n.port, 10_000);
      await new Promise((r) => setTimeout(r, 150));
      if (up && child.exitCode === null && child.signalCode === null) return;
      await stop(child, 'SIGKILL');
      if (!mayMove || attempt >= 4) throw new Error(`redis-server (cluster) did not start on ports ${n.port}/${n.busPort}`);
      [n.port, n.busPort] = [await this.freePort(), await this.freePort()];
    }
  }

  async killNode(i: number, signal: NodeJS.Signals = 'SIGKILL') {
    await stop(this.nodes[i].child, signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL') {
    await Promise.all(this.nodes.map((n) => stop(n.child, signal)));
  }

  /** The port of the primary that serves this key's slot. */
  async portOf(key: string): Promise<number> {
    const slot = Number(await this.ask(this.nodes[0].port, (r) => r.cluster('KEYSLOT', key)));
    const ranges = await this.ask(this.nodes[0].port, (r) => r.cluster('SLOTS'));
    const primary = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
    if (!primary) throw new Error(`no node serves slot ${slot}`);
    return Number(primary[1]);
  }

  /** One command to the node on `port` (see askNode). */
  ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return askNode(port, fn);
  }
}

/** Every key matching the pattern, from every primary of a Cluster (or the one server). Tests only: KEYS blocks. */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  if (redis instanceof Cluster) return (await Promise.all(redis.nodes('master').map((n) => n.keys(pattern)))).flat();
  return redis.keys(pattern);
}

/** FLUSHDB of the one server, or of every primary of a Cluster. */
export async function flushAll(redis: RedisClient): Promise<void> {
  if (redis instanceof Cluster) await Promise.all(redis.nodes('master').map((n) => n.flushdb()));
  else await redis.flushdb();
}

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

async function until(fn: () => Promise<boolean>, what: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
