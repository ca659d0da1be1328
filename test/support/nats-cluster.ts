import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, waitForPort } from '../../scripts/services.js';
import { natsServerEnv, testNatsConf } from './nats-auth.js';

/** One nats-server of a test cluster: its client, route and monitoring ports, its own store. */
export interface NatsNode {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  child?: ChildProcess;
}

/**
 * A JetStream cluster of real nats-servers on this machine, each with its own client, route and
 * monitoring port and its own store directory (a temp dir, never the repository): nodes can be
 * killed and restarted one at a time, keeping their names, ports and data as a real node does.
 */
export class NatsCluster {
  readonly nodes: NatsNode[] = [];
  /** The least-privilege configuration every node runs with (flags give ports, store and routes). */
  private readonly confFile = join(mkdtempSync(join(tmpdir(), 'e2e-nats-conf-')), 'nats.conf');

  constructor(
    private readonly size: number,
    private readonly freePort: () => Promise<number>,
  ) {}

  /** Every node, comma-separated, without credentials (Backends.natsUrlAs adds an identity's). */
  get url() {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  }

  async start() {
    writeFileSync(this.confFile, testNatsConf());
    const name = `e2e-${process.pid}-${Date.now().toString(36)}`;
    for (let i = 0; i < this.size; i++) {
      this.nodes.push({
        name: `${name}-n${i + 1}`,
        port: await this.freePort(),
        clusterPort: await this.freePort(),
        monitorPort: await this.freePort(),
        storeDir: mkdtempSync(join(tmpdir(), 'e2e-nats-cluster-')),
      });
    }
    await Promise.all(this.nodes.map((_, i) => this.startNode(i)));
  }

  startNode(i: number): Promise<void> {
    const node = this.nodes[i];
    const routes = this.nodes.filter((n) => n !== node).map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(',');
    const args = ['-c', this.confFile, '-a', '127.0.0.1', '-p', String(node.port), '-m', String(node.monitorPort), '-n', node.name, '-js', '-sd', node.storeDir,
      '--cluster_name', 'e2e', '--cluster', `nats://127.0.0.1:${node.clusterPort}`, '--routes', routes];
    node.child = spawn(findBinary('nats-server') ?? 'nats-server', args, { stdio: 'ignore', env: { ...process.env, ...natsServerEnv() } });
    return this.waitUp(node);
  }

  private async waitUp(node: NatsNode) {
    if (!(await waitForPort('127.0.0.1', node.port, 10_000)) || node.child?.exitCode !== null) {
      throw new Error(`nats-server ${node.name} did not start on port ${node.port}`);
    }
  }

  /**
   * Waits until JetStream's meta group has a leader and a restarted node caught up (/healthz answers
   * ok only then). Generous: on a loaded 2-core machine a restarted node catches up slowly. On time
   * out it says what each node's /healthz answered (which stream or consumer is not current).
   */
  async ready(timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answers = await Promise.all(
        this.nodes
          .filter((n) => this.alive(n))
          .map((n) =>
            fetch(`http://127.0.0.1:${n.monitorPort}/healthz`).then(
              async (r) => ({ ok: r.ok, body: `${n.name}: ${(await r.text()).trim()}` }),
              (e: Error) => ({ ok: false, body: `${n.name}: ${e.message}` }),
            ),
          ),
      );
      if (answers.length > 0 && answers.every((a) => a.ok)) return;
      if (Date.now() > deadline) throw new Error(`the NATS cluster did not become healthy: ${answers.filter((a) => !a.ok).map((a) => a.body.slice(0, 300)).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  alive(node: NatsNode) {
    return !!node.child && node.child.exitCode === null && node.child.signalCode === null;
  }

  /** The node whose server name is `name` (as JetStream names a leader). */
  byName(name: string | undefined): number {
    return this.nodes.findIndex((n) => n.name === name);
  }

  async stopNode(i: number, signal: NodeJS.Signals = 'SIGKILL') {
    const child = this.nodes[i].child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async stop() {
    await Promise.all(this.nodes.map((_, i) => this.stopNode(i)));
  }
}
