import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../test/support/harness.js';
import type { ChurnArgs, ChurnResult, GenInit, GenStatus, OpenArgs, OpenResult, StormResult } from './protocol.js';

/** The bench's handle on a load generator process (bench/loadgen.ts). */
export class Generator {
  private child: ChildProcess;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(join(ROOT, 'dist', 'bench', 'loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  get pid() {
    return this.child.pid!;
  }

  private call<T>(cmd: string, args: unknown = {}): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args });
    });
  }

  init(a: GenInit) {
    return this.call<void>('init', a);
  }
  open(a: OpenArgs) {
    return this.call<OpenResult>('open', a);
  }
  close(userIds?: string[]) {
    return this.call<number>('close', { userIds });
  }
  storm(timeoutMs: number, cleanupTimeoutMs: number) {
    return this.call<StormResult>('storm', { timeoutMs, cleanupTimeoutMs });
  }
  churn(a: ChurnArgs) {
    return this.call<ChurnResult>('churn', a);
  }
  status() {
    return this.call<GenStatus>('status');
  }
  async exit() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.call('exit').catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
