import type { ComponentInfo, ManagerInfo } from '#libs/contracts/index.js';
import type { Component, ComponentContext, ComponentDefinition } from './component.js';

/** OTP-style restart intensity: more than `maxRestarts` within `windowMs` escalates. */
export interface RestartPolicy {
  maxRestarts: number;
  windowMs: number;
}
export const DEFAULT_COMPONENT_POLICY: RestartPolicy = { maxRestarts: 3, windowMs: 5000 };
export const DEFAULT_MANAGER_POLICY: RestartPolicy = { maxRestarts: 3, windowMs: 30000 };

export interface ManagerHooks {
  context(userId: string, componentName: string): Omit<ComponentContext, 'fail' | 'memory'>;
  onComponentRestart(userId: string, component: string, error: unknown): void;
  onManagerRestart(userId: string, error: unknown): void;
  onComponentFailed(userId: string, component: string, error: unknown): void;
}

class Supervised {
  instance?: Component;
  state: ComponentInfo['state'] = 'stopped';
  restarts = 0;
  recent: number[] = [];
  /** Made when the component first uses it (see ChildContext). */
  memory?: Map<string, unknown>;
  /** Bumped on every (re)start, so a failure reported by an old instance is ignored. */
  generation = 0;
  constructor(readonly def: ComponentDefinition) {}
}

/**
 * What a component instance is given. A class, not an object spread of the hooks' context: every
 * spread object got a hidden class of its own (V8), 660 bytes a manager with ten thousand of them.
 * `memory` is made on first use, so a component that keeps nothing across restarts costs no Map.
 */
class ChildContext implements ComponentContext {
  readonly userId: string;
  readonly workerId: string;
  readonly config: ComponentContext['config'];
  readonly redis: ComponentContext['redis'];
  readonly ticker: ComponentContext['ticker'];
  readonly log: ComponentContext['log'];
  readonly publish: ComponentContext['publish'];

  constructor(
    base: Omit<ComponentContext, 'fail' | 'memory'>,
    private readonly child: Supervised,
    readonly fail: (error: unknown) => void,
  ) {
    this.userId = base.userId;
    this.workerId = base.workerId;
    this.config = base.config;
    this.redis = base.redis;
    this.ticker = base.ticker;
    this.log = base.log;
    this.publish = base.publish;
  }

  get memory(): Map<string, unknown> {
    return (this.child.memory ??= new Map());
  }
}

/**
 * The per-user supervisor: starts its components, restarts one that fails (one_for_one) within a
 * bounded intensity, restarts all of them when a component exceeds it, and gives up on a
 * component when the manager itself exceeds its own intensity. One user's failures never leave
 * this object.
 */
export class UserStreamManager {
  /** Epoch ms (a Date is 96 bytes of heap per manager). */
  readonly startedAt = Date.now();
  private readonly children: Supervised[];
  private managerRestarts: number[] = [];
  private stopped = false;

  constructor(
    readonly userId: string,
    readonly workerId: string,
    definitions: readonly ComponentDefinition[],
    private readonly hooks: ManagerHooks,
    private readonly componentPolicy: RestartPolicy = DEFAULT_COMPONENT_POLICY,
    private readonly managerPolicy: RestartPolicy = DEFAULT_MANAGER_POLICY,
  ) {
    this.children = definitions.map((d) => new Supervised(d));
  }

  async start(): Promise<void> {
    for (const child of this.children) await this.startChild(child);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const child of [...this.children].reverse()) await this.stopChild(child);
  }

  /** Fault injection and tests: make a component fail as if it had thrown. */
  crash(componentName: string): boolean {
    const child = this.children.find((c) => c.def.name === componentName);
    if (!child || child.state !== 'running') return false;
    this.failed(child, child.generation, new Error(`injected crash of ${componentName}`));
    return true;
  }

  /** The running instance of a component, for requests addressed to it. */
  component(name: string): Component | undefined {
    return this.children.find((c) => c.def.name === name && c.state === 'running')?.instance;
  }

  info(): ManagerInfo {
    return {
      userId: this.userId,
      workerId: this.workerId,
      startedAt: new Date(this.startedAt).toISOString(),
      components: this.children.map((c) => ({
        name: c.def.name,
        state: c.state,
        restarts: c.restarts,
        ...(c.instance?.info ? { info: safeInfo(c.instance) } : {}),
      })),
    };
  }

  private async startChild(child: Supervised) {
    if (this.stopped) return;
    const generation = ++child.generation;
    const fail = (err: unknown) => this.failed(child, generation, err);
    try {
      child.instance = child.def.create();
      await child.instance.start(new ChildContext(this.hooks.context(this.userId, child.def.name), child, fail));
      // Only a component that finished starting is 'running' and receives requests.
      if (generation === child.generation) child.state = 'running';
    } catch (err) {
      fail(err);
    }
  }

  private async stopChild(child: Supervised) {
    const instance = child.instance;
    child.instance = undefined;
    child.generation++;
    if (child.state === 'running') child.state = 'stopped';
    try {
      await instance?.stop();
    } catch {
      // A component that cannot stop cleanly is being discarded anyway.
    }
  }

  private failed(child: Supervised, generation: number, err: unknown) {
    if (this.stopped || generation !== child.generation) return;
    const now = Date.now();
    child.recent = child.recent.filter((t) => now - t < this.componentPolicy.windowMs);
    child.recent.push(now);
    child.restarts++;
    child.state = 'restarting';
    if (child.recent.length <= this.componentPolicy.maxRestarts) {
      this.hooks.onComponentRestart(this.userId, child.def.name, err);
      const stopping = this.stopChild(child);
      const generation = child.generation;
      // Unless something else (a manager restart, stop()) took over this child meanwhile.
      void stopping.then(() => {
        if (generation === child.generation && !this.stopped) return this.startChild(child);
      });
      return;
    }
    this.managerRestarts = this.managerRestarts.filter((t) => now - t < this.managerPolicy.windowMs);
    this.managerRestarts.push(now);
    if (this.managerRestarts.length <= this.managerPolicy.maxRestarts) {
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
