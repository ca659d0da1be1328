import { sleep, until, type AppName, type AppProcess, type Stack } from '../support/harness.js';
import { restart } from '../support/faults.js';
import { CRASH_MODES } from '../../libs/contracts/admin.js';
import type { Rng } from './rng.js';
import type { Timings } from './truth.js';

export const FAULT_KINDS = [
  'kill:gateway',
  'kill:presence',
  'kill:stream-workers',
  'term:gateway',
  'term:presence',
  'term:stream-workers',
  'pause:gateway',
  'pause:presence',
  'pause:stream-workers',
  'nats:restart',
  'redis:restart-empty',
  'redis:outage',
  'component:crash',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Injected {
  kind: FaultKind;
  target: string;
  startedAt: number;
  /** When the fault was over (process back, server back, process woken up). */
  endedAt: number;
}

/** Every process exit, and whether a fault asked for it: no other process may ever exit. */
export class ExitMonitor {
  readonly unexpected: string[] = [];
  /** Every process of the run, replaced ones included: their logs explain a failure. */
  readonly all: AppProcess[] = [];
  private readonly expected = new Set<unknown>();

  watch(app: AppProcess) {
    this.all.push(app);
    app.child?.once('exit', (code, signal) => {
      if (!this.expected.delete(app.child)) this.unexpected.push(`${app.env.INSTANCE_ID} exited (${signal ?? code}): ${app.lines.slice(-5).join(' | ')}`);
    });
  }

  expect(app: AppProcess) {
    this.expected.add(app.child);
  }
}

/** Injects one fault at a time into a running stack, and brings it back. */
export class Injector {
  constructor(
    private readonly stack: Stack,
    private readonly rng: Rng,
    private readonly exits: ExitMonitor,
    private readonly timings: Timings,
    /** Users whose managers a component crash may hit. */
    private readonly users: () => string[],
  ) {}

  list(app: AppName): AppProcess[] {
    return app === 'gateway' ? this.stack.gateways : app === 'presence' ? this.stack.presences : this.stack.workers;
  }

  async inject(kind: FaultKind): Promise<Injected> {
    const startedAt = Date.now();
    const [family, what] = kind.split(':') as [string, string];
    let target: string = what;
    if (family === 'kill' || family === 'term' || family === 'pause') {
      const app = this.rng.pick(this.list(what as AppName).filter((a) => a.alive));
      target = app.env.INSTANCE_ID;
      if (family === 'pause') await this.pause(app);
      else await this.replace(app, family === 'kill' ? 'SIGKILL' : 'SIGTERM');
    } else if (kind === 'nats:restart') {
      await this.stack.backends.stopNats('SIGTERM');
      await sleep(1000);
      await this.stack.backends.startNats();
    } else if (kind === 'redis:restart-empty') {
      await this.stack.backends.stopRedis('SIGKILL');
      await this.stack.backends.startRedis();
    } else if (kind === 'redis:outage') {
      // Away for longer than an event's first redelivery delays add up to, then back empty.
      await this.stack.backends.stopRedis('SIGKILL');
      await sleep(this.timings.workerTtlMs * 2);
      await this.stack.backends.startRedis();
    } else {
      target = await this.crashComponent();
    }
    return { kind, target, startedAt, endedAt: Date.now() };
  }

  /** Stopped (kill -9 or SIGTERM), then the same app, INSTANCE_ID and port started again. */
  async replace(app: AppProcess, signal: 'SIGKILL' | 'SIGTERM') {
    this.exits.expect(app);
    await app.kill(signal);
    const list = this.list(app.app);
    list.splice(list.indexOf(app), 1);
    await sleep(500);
    const again = await restart(this.stack, app);
    this.exits.watch(again);
  }

  /** Frozen past its TTL (a long GC pause, a stalled VM), then woken up. */
  private async pause(app: AppProcess) {
    app.child!.kill('SIGSTOP');
    const ttl = app.app === 'stream-workers' ? this.timings.workerTtlMs : this.timings.gatewayTtlMs;
    await sleep(ttl + 1000);
    app.child!.kill('SIGCONT');
  }

  private async crashComponent(): Promise<string> {
    const rows = await until('a manager of the population', () =>
      this.stack.observer
        .request<{ managers: Array<{ userId: string }> }>('stream.query.managers', undefined, 3000)
        .then((r) => r.managers.filter((m) => this.users().includes(m.userId)))
        .then((r) => (r.length > 0 ? r : null), () => null),
    10_000, 250).catch(() => []);
    if (rows.length === 0) return 'nobody';
    const user = this.rng.pick(rows).userId;
    const how = this.rng.pick(CRASH_MODES);
    const component = this.rng.pick(['ConsoleLogger', 'StreamStateServer']);
    await this.stack.observer.request('stream.admin.crash', { userId: user, component, how }, 2000).catch(() => undefined);
    return `${user}/${component}/${how}`;
  }
}
