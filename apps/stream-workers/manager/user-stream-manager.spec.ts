import { describe, it, expect } from '@jest/globals';
import { managerSpec, settle } from './user-stream-manager.fake.js';

describe('UserStreamManager', () => {
  const t = managerSpec();

  it('starts components in order and stops them in reverse order', async () => {
    await t.manager.start();
    expect(t.events).toEqual(['start A', 'start B', 'start C']);
    expect(t.states()).toEqual(['running', 'running', 'running']);
    expect(t.current(t.a).ctx!.userId).toBe('alice');
    expect(t.current(t.a).ctx!.generation).toBe(7);

    t.events.length = 0;
    await t.manager.stop();
    expect(t.events).toEqual(['stop C', 'stop B', 'stop A']);
    expect(t.states()).toEqual(['stopped', 'stopped', 'stopped']);
    expect(t.manager.component('A')).toBeUndefined();
  });

  it('info() reports each component with its own info', async () => {
    await t.manager.start();
    const info = t.manager.info();
    expect(info.userId).toBe('alice');
    expect(info.workerId).toBe('worker-1');
    expect(info.generation).toBe(7);
    expect(info.components).toEqual([
      { name: 'A', state: 'running', restarts: 0, info: { n: 1 } },
      { name: 'B', state: 'running', restarts: 0, info: { n: 1 } },
      { name: 'C', state: 'running', restarts: 0, info: { n: 1 } },
    ]);
  });

  it('restarts a component whose start() throws', async () => {
    t.b.throwOnStart = (n) => n === 1;
    await t.manager.start();
    await settle();

    expect(t.hooks.onComponentRestart).toHaveBeenCalledTimes(1);
    const [userId, name, err] = t.hooks.onComponentRestart.mock.calls[0];
    expect([userId, name]).toEqual(['alice', 'B']);
    expect((err as Error).message).toBe('B failed to start (#1)');
    expect(t.restarts()).toEqual([0, 1, 0]);
    expect(t.states()).toEqual(['running', 'running', 'running']);
    expect(t.b.instances).toHaveLength(2);
    expect(t.current(t.b).started).toBe(true);
    expect(t.manager.component('B')).toBe(t.current(t.b));
    // The others were not touched.
    expect(t.a.instances).toHaveLength(1);
    expect(t.c.instances).toHaveLength(1);
    expect(t.hooks.onManagerRestart).not.toHaveBeenCalled();
  });

  it('restarts a component that reports a failure later through ctx.fail', async () => {
    await t.manager.start();
    const first = t.current(t.a);
    first.ctx!.fail(new Error('socket closed'));
    await settle();

    expect(t.hooks.onComponentRestart).toHaveBeenCalledWith('alice', 'A', expect.objectContaining({ message: 'socket closed' }));
    expect(first.stopped).toBe(true);
    expect(t.a.instances).toHaveLength(2);
    expect(t.manager.component('A')).toBe(t.current(t.a));
    expect(t.states()).toEqual(['running', 'running', 'running']);
    expect(t.restarts()).toEqual([1, 0, 0]);
  });

  it('crash(name) restarts only that component', async () => {
    await t.manager.start();
    const [a1, c1] = [t.current(t.a), t.current(t.c)];
    t.events.length = 0;

    expect(t.manager.crash('B')).toBe(true);
    await settle();

    expect(t.events).toEqual(['stop B', 'start B']);
    expect(t.b.instances).toHaveLength(2);
    expect(t.current(t.a)).toBe(a1);
    expect(t.current(t.c)).toBe(c1);
    expect(a1.stopped || c1.stopped).toBe(false);
    expect(t.restarts()).toEqual([0, 1, 0]);
    expect(t.states()).toEqual(['running', 'running', 'running']);
    expect(t.hooks.onComponentRestart).toHaveBeenCalledTimes(1);
    expect(t.hooks.onComponentRestart.mock.calls[0][1]).toBe('B');
  });

  it('crash() of an unknown component does nothing', async () => {
    await t.manager.start();
    expect(t.manager.crash('Nope')).toBe(false);
    await settle();
    expect(t.hooks.onComponentRestart).not.toHaveBeenCalled();
    expect(t.restarts()).toEqual([0, 0, 0]);
  });

  it('passes the same memory Map to a restarted component', async () => {
    await t.manager.start();
    const a1 = t.current(t.a);
    a1.ctx!.memory.set('count', 41);
    a1.ctx!.fail(new Error('boom'));
    await settle();

    const a2 = t.current(t.a);
    expect(a2).not.toBe(a1);
    expect(a2.ctx!.memory).toBe(a1.ctx!.memory);
    expect(a2.ctx!.memory.get('count')).toBe(41);
    // Each component has its own memory.
    expect(t.current(t.b).ctx!.memory).not.toBe(a2.ctx!.memory);
    expect(t.current(t.b).ctx!.memory.has('count')).toBe(false);
  });
});
