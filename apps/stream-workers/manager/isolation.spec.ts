import { jest, describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import type { Redis } from 'ioredis';
import { loadConfig } from '#libs/config/index.js';
import type { Component, ComponentContext, ComponentDefinition } from './component.js';
import type { ManagerEnvironment } from './child-context.js';
import { crashOwnerOf, runInScope } from './component-scope.js';
import { SharedTicker } from './shared-ticker.js';
import { DEFAULT_SUPERVISOR, UserStreamManager, type ManagerHooks } from './user-stream-manager.js';

const config = loadConfig({ NODE_ENV: 'development' });
const PERIOD = 100;

/** Lets every pending restart (promise chains of stop -> start) run to completion. */
async function settle() {
  for (let i = 0; i < 200; i++) await Promise.resolve();
}

/** A component whose behaviour each test scripts through `plan`, with every instance kept. */
class Scripted implements Component {
  ctx?: ComponentContext;
  ticks = 0;
  constructor(private readonly plan: Plan) {}
  start(ctx: ComponentContext) {
    this.ctx = ctx;
    ctx.ticker.every(PERIOD, () => {
      this.ticks++;
      return this.plan.onTick?.(this);
    });
    return this.plan.onStart?.(this);
  }
  stop() {
    return this.plan.onStop?.(this);
  }
}
interface Plan {
  onStart?: (c: Scripted) => void | Promise<void>;
  onStop?: (c: Scripted) => void | Promise<void>;
  onTick?: (c: Scripted) => unknown;
}
function definition(name: string, plan: Plan = {}): ComponentDefinition & { instances: Scripted[] } {
  const instances: Scripted[] = [];
  return {
    name,
    instances,
    create() {
      const c = new Scripted(plan);
      instances.push(c);
      return c;
    },
  };
}

describe('a component error is that component crash, whatever path it takes', () => {
  let ticker: SharedTicker;
  let env: ManagerEnvironment;
  let hooks: { [K in keyof ManagerHooks]: jest.Mock<ManagerHooks[K]> };
  let leaseValid: boolean;
  let doubts: number;
  const managers: UserStreamManager[] = [];

  function manager(userId: string, defs: ComponentDefinition[], options = DEFAULT_SUPERVISOR) {
    const lease = { generation: 3, valid: () => leaseValid, doubt: () => void doubts++ };
    const m = new UserStreamManager(userId, env, defs, hooks, lease, options);
    managers.push(m);
    return m;
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
    ticker = new SharedTicker();
    env = { workerId: 'w1', config, redis: {} as Redis, ticker, log: () => () => undefined, emit: () => undefined };
    hooks = { onComponentRestart: jest.fn(), onManagerRestart: jest.fn(), onComponentFailed: jest.fn() };
    leaseValid = true;
    doubts = 0;
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.stop()));
    ticker.stop();
    jest.useRealTimers();
  });

  it('a tick that throws restarts that component only; the other user and the other component keep ticking', async () => {
    let thrown = false;
    const faulty = definition('Faulty', {
      onTick: () => {
        if (!thrown) {
          thrown = true;
          throw new Error('tick boom');
        }
      },
    });
    const sibling = definition('Sibling');
    const neighbour = definition('Neighbour');
    await manager('alice', [faulty, sibling]).start();
    await manager('bob', [neighbour]).start();

    await jest.advanceTimersByTimeAsync(PERIOD * 3);
    await settle();

    expect(hooks.onComponentRestart).toHaveBeenCalledTimes(1);
    expect(hooks.onComponentRestart.mock.calls[0].slice(0, 2)).toEqual(['alice', 'Faulty']);
    expect(faulty.instances).toHaveLength(2);
    expect(sibling.instances).toHaveLength(1);
    expect(sibling.instances[0].ticks).toBeGreaterThanOrEqual(3);
    expect(neighbour.instances[0].ticks).toBeGreaterThanOrEqual(3);
  });

  it('a tick whose promise rejects, a timer that throws and spawned work that rejects are crashes too', async () => {
    const rejecting = definition('Rejecting', { onTick: (c) => (c.ticks === 1 ? Promise.reject(new Error('async tick boom')) : undefined) });
    const timed = definition('Timed', {
      onStart: (c) => {
        c.ctx!.setTimeout(() => {
          throw new Error('timer boom');
        }, 10);
      },
    });
    const spawning = definition('Spawning', { onStart: (c) => c.ctx!.spawn(() => Promise.reject(new Error('spawn boom'))) });
    await manager('carol', [rejecting, timed, spawning]).start();
    await jest.advanceTimersByTimeAsync(PERIOD + 1);
    await settle();

    const crashed = hooks.onComponentRestart.mock.calls.map((c) => [c[1], (c[2] as Error).message]);
    expect(crashed).toEqual(expect.arrayContaining([['Rejecting', 'async tick boom'], ['Timed', 'timer boom'], ['Spawning', 'spawn boom']]));
  });

  it('a crashed instance leaves nothing behind: its ticks and timers stop even when its stop() throws', async () => {
    const def = definition('Leaky', {
      onStart: (c) => {
        c.ctx!.setInterval(() => void c.ticks++, PERIOD);
      },
      onStop: () => {
        throw new Error('cannot stop');
      },
    });
    const m = manager('dave', [def]);
    await m.start();
    m.crash('Leaky');
    await settle();
    const first = def.instances[0];
    const before = first.ticks;
    await jest.advanceTimersByTimeAsync(PERIOD * 5);
    expect(first.ticks).toBe(before);
    expect(def.instances).toHaveLength(2);
    expect(def.instances[1].ticks).toBeGreaterThan(0);
  });

  it('a start() that never settles is a crash once its timeout passes', async () => {
    let starts = 0;
    const def = definition('Hanging', {
      onStart: () => {
        starts++;
        if (starts === 1) return new Promise<void>(() => undefined);
      },
    });
    const starting = manager('erin', [def], { ...DEFAULT_SUPERVISOR, startTimeoutMs: 1000 }).start();
    await jest.advanceTimersByTimeAsync(1001);
    await starting;
    await settle();
    expect(hooks.onComponentRestart).toHaveBeenCalledWith('erin', 'Hanging', expect.objectContaining({ message: expect.stringContaining('did not finish within 1000 ms') }));
    expect(starts).toBe(2);
  });

  it('a stop() that never settles does not hold the manager stop past its timeout', async () => {
    const def = definition('Stuck', { onStop: () => new Promise<void>(() => undefined) });
    const m = manager('frank', [def], { ...DEFAULT_SUPERVISOR, stopTimeoutMs: 500 });
    await m.start();
    let done = false;
    const stopping = m.stop().then(() => (done = true));
    await jest.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(2);
    await stopping;
    expect(done).toBe(true);
  });

  it('no periodic work while the lease is in doubt, and the doubt asks for a renewal', async () => {
    const def = definition('Ticking');
    await manager('gina', [def]).start();
    await jest.advanceTimersByTimeAsync(PERIOD * 2);
    const ticked = def.instances[0].ticks;
    expect(ticked).toBeGreaterThan(0);
    leaseValid = false;
    await jest.advanceTimersByTimeAsync(PERIOD * 3);
    expect(def.instances[0].ticks).toBe(ticked);
    expect(doubts).toBeGreaterThan(0);
    leaseValid = true;
    await jest.advanceTimersByTimeAsync(PERIOD * 2);
    expect(def.instances[0].ticks).toBeGreaterThan(ticked);
  });

  it('memory survives a graceful move: snapshot on one manager, restore on the next', async () => {
    const def = definition('Counter', { onStart: (c) => void c.ctx!.memory.set('count', ((c.ctx!.memory.get('count') as number) ?? 0) + 5) });
    const first = manager('hank', [def]);
    await first.start();
    const saved = JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<UserStreamManager['snapshot']>;
    await first.stop();
    const next = manager('hank', [def]);
    next.restore(saved);
    await next.start();
    expect(def.instances[1].ctx!.memory.get('count')).toBe(10);
  });
});

describe('crashOwnerOf: an error that reached the process goes to the component whose code raised it', () => {
  it('inside a scope, also after an await, the scope crashes; outside any, nobody claims it', async () => {
    const crashes: unknown[] = [];
    const scope = { owner: 'UserStreamManager:x/C', crash: (e: unknown) => void crashes.push(e) };
    const err = new Error('escaped');
    expect(runInScope(scope, () => crashOwnerOf(err))).toBe(true);
    expect(await runInScope(scope, async () => {
      await Promise.resolve();
      return crashOwnerOf(err);
    })).toBe(true);
    expect(crashOwnerOf(err)).toBe(false);
    expect(crashes).toEqual([err, err]);
  });
});
