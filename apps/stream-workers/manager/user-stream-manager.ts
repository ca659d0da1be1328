import type { ComponentInfo, ManagerInfo } from '#libs/contracts/index.js';
import type { Component, ComponentDefinition } from './component.js';
import { ChildContext, type ChildCell, type LeaseHold, type ManagerEnvironment } from './child-context.js';
import { runInScope, type ComponentScope } from './component-scope.js';

/** OTP-style restart intensity: more than `maxRestarts` within `windowMs` escalates. */
export interface RestartPolicy {
  maxRestarts: number;
  windowMs: number;
}

export interface SupervisorOptions {
  component: RestartPolicy;
  manager: RestartPolicy;
  /** A start() that has not settled by then is a crash; a stop() that has not, is abandoned. */
  startTimeoutMs: number;
  stopTimeoutMs: number;
}

export const DEFAULT_SUPERVISOR: SupervisorOptions = {
  component: { maxRestarts: 3, windowMs: 5000 },
  manager: { maxRestarts: 3, windowMs: 30000 },
  startTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
};

export interface ManagerHooks {
  onComponentRestart(userId: string, component: string, error: unknown): void;
  onManagerRestart(userId: string, error: unknown): void;
  onComponentFailed(userId: string, component: string, error: unknown): void;
}

class Supervised implements ChildCell {
  instance?: Component;
  ctx?: ChildContext;
  state: ComponentInfo['state'] = 'stopped';
  restarts = 0;
  recent: number[] = [];
  memory?: Map<string, unknown>;
  /** Bumped on every (re)start and stop, so a failure reported by an old instance is ignored. */
  generation = 0;
  constructor(readonly def: ComponentDefinition) {}
}

class Timeout extends Error {}

/** Settles like `work`, or rejects with a Timeout after `ms`. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The per-user supervisor: starts its components, restarts one that fails (one_for_one) within a
 * bounded intensity, restarts all of them when a component exceeds it, and gives up on a
 * component when the manager itself exceeds its own intensity. A failure is anything a
 * component's code throws or rejects (start, stop, a tick, a timer, spawned work, code it
 * scheduled itself; see component-scope.ts) and never leaves this object.
 */
export class UserStreamManager<L extends LeaseHold = LeaseHold> {
  /** Epoch ms (a Date is 96 bytes of heap per manager). */
  readonly startedAt = Date.now();
  private readonly children: Supervised[];
  private managerRestarts: number[] = [];
  private stopped = false;

  constructor(
    readonly userId: string,
    private readonly env: ManagerEnvironment,
    definitions: readonly ComponentDefinition[],
    private readonly hooks: ManagerHooks,
    readonly lease: L,
    private readonly options: SupervisorOptions = DEFAULT_SUPERVISOR,
  ) {
    this.children = definitions.map((d) => new Supervised(d));
  }

  get workerId(): string {
    return this.env.workerId;
  }

  async start(): Promise<void> {
    for (const child of this.children) await this.startChild(child);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const child of [...this.children].reverse()) await this.stopChild(child);
  }

  /** The components' memory, for a graceful move to another worker (JSON-serialisable values only). */
  snapshot(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const c of this.children) if (c.memory?.size) out[c.def.name] = Object.fromEntries(c.memory);
    return out;
  }

  /** Before start(): the memory a previous holder handed over. */
  restore(snapshot: Record<string, Record<string, unknown>>): void {
    for (const c of this.children) {
      const saved = snapshot[c.def.name];
      if (saved && typeof saved === 'object') c.memory = new Map(Object.entries(saved));
    }
  }

  /** The running instance of a component, for requests addressed to it. */
  component(name: string): Component | undefined {
    return this.children.find((c) => c.def.name === name && c.state === 'running')?.instance;
  }

  /** The scope of a running component: code run in it fails as that component (fault injection). */
  scopeOf(name: string): { scope: ComponentScope; ctx: ChildContext } | undefined {
    const child = this.children.find((c) => c.def.name === name && c.state === 'running');
    if (!child?.ctx) return undefined;
    return { scope: this.scope(child, child.generation), ctx: child.ctx };
  }

  /** Fault injection and tests: make a component fail as if it had thrown. */
  crash(componentName: string): boolean {
    const child = this.children.find((c) => c.def.name === componentName);
    if (!child || child.state !== 'running') return false;
    this.failed(child, child.generation, new Error(`injected crash of ${componentName}`));
    return true;
  }

  info(): ManagerInfo {
    return {
      userId: this.userId,
      workerId: this.env.workerId,
      startedAt: new Date(this.startedAt).toISOString(),
      generation: this.lease.generation,
      components: this.children.map((c) => ({
        name: c.def.name,
        state: c.state,
        restarts: c.restarts,
        ...(c.instance?.info ? { info: safeInfo(c.instance) } : {}),
      })),
    };
  }

  private scope(child: Supervised, generation: number): ComponentScope {
    return { owner: `UserStreamManager:${this.userId}/${child.def.name}`, crash: (err) => this.failed(child, generation, err) };
  }

  private async startChild(child: Supervised) {
    if (this.stopped) return;
    const generation = ++child.generation;
    const scope = this.scope(child, generation);
    try {
      const ctx = new ChildContext(this.userId, this.env, this.lease, child, scope);
      const instance = runInScope(scope, () => child.def.create());
      child.instance = instance;
      child.ctx = ctx;
      await within(
        runInScope(scope, () => Promise.resolve().then(() => instance.start(ctx))),
        this.options.startTimeoutMs,
        `${child.def.name}.start()`,
      );
      // Only a component that finished starting is 'running' and receives requests.
      if (generation === child.generation) child.state = 'running';
    } catch (err) {
      scope.crash(err);
    }
  }

  private async stopChild(child: Supervised) {
    const { instance, ctx } = child;
    child.instance = undefined;
    child.ctx = undefined;
    child.generation++;
    if (child.state === 'running') child.state = 'stopped';
    ctx?.dispose();
    if (!instance) return;
    // Errors of a stop are not crashes: the instance is being discarded anyway.
    const ignore = { owner: `UserStreamManager:${this.userId}/${child.def.name}`, crash: () => undefined };
    await within(
      runInScope(ignore, () => Promise.resolve().then(() => instance.stop())),
      this.options.stopTimeoutMs,
      `${child.def.name}.stop()`,
    ).catch(() => undefined);
  }

  private failed(child: Supervised, generation: number, err: unknown) {
    if (this.stopped || generation !== child.generation) return;
    const now = Date.now();
    const { component: policy, manager: managerPolicy } = this.options;
    child.recent = child.recent.filter((t) => now - t < policy.windowMs);
    child.recent.push(now);
    child.restarts++;
    child.state = 'restarting';
    if (child.recent.length <= policy.maxRestarts) {
      this.hooks.onComponentRestart(this.userId, child.def.name, err);
      const stopping = this.stopChild(child);
      const next = child.generation;
      // Unless something else (a manager restart, stop()) took over this child meanwhile.
      void stopping.then(() => {
        if (next === child.generation && !this.stopped) return this.startChild(child);
      });
      return;
    }
    this.managerRestarts = this.managerRestarts.filter((t) => now - t < managerPolicy.windowMs);
    this.managerRestarts.push(now);
    if (this.managerRestarts.length <= managerPolicy.maxRestarts) {
      this.hooks.onManagerRestart(this.userId, err);
      child.recent = [];
      void this.restartAll();
      return;
    }
    child.state = 'failed';
    this.hooks.onComponentFailed(this.userId, child.def.name, err);
    void this.stopChild(child);
  }

  private async restartAll() {
    for (const c of [...this.children].reverse()) await this.stopChild(c);
    for (const c of this.children) if (c.state !== 'failed') await this.startChild(c);
  }
}

function safeInfo(c: Component): Record<string, unknown> | undefined {
  try {
    return c.info?.();
  } catch {
    return undefined;
  }
}
