import { jest, beforeEach, afterEach } from '@jest/globals';
import type { Redis } from 'ioredis';
import { loadConfig } from '#libs/config/index.js';
import type { Component, ComponentContext, ComponentDefinition } from './component.js';
import { SharedTicker } from './shared-ticker.js';
import { UserStreamManager, type ManagerHooks } from './user-stream-manager.js';
import type { ManagerEnvironment } from './child-context.js';

/** For UserStreamManager's unit specs: a manager of three fake components (A, B, C), on fake timers. */
const config = loadConfig({ NODE_ENV: 'development' });

/** Lets every pending restart (promise chains of stop -> start) run to completion. */
export async function settle() {
  for (let i = 0; i < 2000; i++) await Promise.resolve();
}

export interface FakeDef extends ComponentDefinition {
  /** Every instance created, in order; the last one is the current one. */
  readonly instances: FakeComponent[];
  /** Throw from start() while this returns true (n = how many starts so far, from 1). */
  throwOnStart: (n: number) => boolean;
  /** How long stop() takes (ms of timer time); 0 = synchronous. */
  stopMs: number;
}

export class FakeComponent implements Component {
  ctx?: ComponentContext;
  started = false;
  stopped = false;
  constructor(
    readonly name: string,
    private readonly def: FakeDef,
    private readonly events: string[],
    private readonly n: number,
  ) {}
  start(ctx: ComponentContext) {
    this.ctx = ctx;
    this.events.push(`start ${this.name}`);
    if (this.def.throwOnStart(this.n)) throw new Error(`${this.name} failed to start (#${this.n})`);
    this.started = true;
  }
  stop(): void | Promise<void> {
    this.stopped = true;
    this.events.push(`stop ${this.name}`);
    if (this.def.stopMs > 0) return new Promise((resolve) => setTimeout(resolve, this.def.stopMs));
  }
  info() {
    return { n: this.n };
  }
}

function fakeDef(name: string, events: string[]): FakeDef {
  const def: FakeDef = {
    name,
    instances: [],
    throwOnStart: () => false,
    stopMs: 0,
    create() {
      const c = new FakeComponent(name, def, events, def.instances.length + 1);
      def.instances.push(c);
      return c;
    },
  };
  return def;
}

export interface ManagerSpec {
  events: string[];
  a: FakeDef;
  b: FakeDef;
  c: FakeDef;
  hooks: {
    onComponentRestart: jest.Mock<ManagerHooks['onComponentRestart']>;
    onManagerRestart: jest.Mock<ManagerHooks['onManagerRestart']>;
    onComponentFailed: jest.Mock<ManagerHooks['onComponentFailed']>;
  };
  manager: UserStreamManager;
  states(): string[];
  restarts(): number[];
  current(d: FakeDef): FakeComponent;
}

/** Registers the hooks that give every test a fresh manager; the returned object holds the current one. */
export function managerSpec(): ManagerSpec {
  const t = {
    states: () => t.manager.info().components.map((x) => x.state),
    restarts: () => t.manager.info().components.map((x) => x.restarts),
    current: (d: FakeDef) => d.instances.at(-1)!,
  } as ManagerSpec;

  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
    t.events = [];
    t.a = fakeDef('A', t.events);
    t.b = fakeDef('B', t.events);
    t.c = fakeDef('C', t.events);
    const env: ManagerEnvironment = {
      workerId: 'worker-1',
      config,
      redis: {} as Redis,
      ticker: new SharedTicker(),
      log: () => () => undefined,
      emit: () => undefined,
    };
    t.hooks = {
      onComponentRestart: jest.fn(),
      onManagerRestart: jest.fn(),
      onComponentFailed: jest.fn(),
    };
    t.manager = new UserStreamManager('alice', env, [t.a, t.b, t.c], t.hooks, { generation: 7, valid: () => true, doubt: () => undefined });
  });

  afterEach(async () => {
    const stopping = t.manager.stop();
    await jest.advanceTimersByTimeAsync(1000); // lets a slow stop() finish
    await stopping;
    jest.useRealTimers();
  });
  return t;
}
