import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { CleanupSubjects, ManagerSubjects } from '#libs/contracts/index.js';
import { GET_AGAIN_MS } from './manager-view.service.js';
import { at, presence, quietLogs, setup } from './manager-view.service.fake.js';

quietLogs();

describe('ManagerViewService: subscribe, then get, then only newer', () => {
  it('a tab that connected before the answer is told once, by the answer', async () => {
    const { nats, views, tab } = setup();
    const a = tab();
    views.greet(a.socket, 'u');
    expect(a.got).toEqual([]);
    nats.answers[0](presence());
    await Promise.resolve();
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('an event that overtakes the answer reaches the tab once, and the older answer not at all', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at, generation: 100 });
    nats.answers[0](presence({ manager: null }));
    await Promise.resolve();
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('a later tab is greeted with what the others were told', async () => {
    const { nats, views, tab } = setup();
    tab();
    nats.answers[0](presence({ status: 'grace', epoch: 11, cleanupAt: '2030-01-01T00:00:05.000Z' }));
    await Promise.resolve();
    const b = tab();
    views.greet(b.socket, 'u');
    expect(b.got).toEqual([{ userId: 'u', state: 'stopping', workerId: 'w1', cleanupAt: '2030-01-01T00:00:05.000Z' }]);
  });

  it('an answer to a follow the user has left since keeps nothing', async () => {
    const { nats, views, tab, here } = setup();
    here.delete('u');
    views.forget('u');
    here.add('u');
    views.follow('u');
    const a = tab();
    nats.answers[0](presence());
    await Promise.resolve();
    expect(a.got).toEqual([]);
    nats.answers[1](presence({ manager: null }));
    await Promise.resolve();
    expect(a.last).toBe('starting');
  });
});

describe('ManagerViewService: what a get that fails, or a lost event, leaves behind', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('a failed get: the tab is told starting, and the user is asked about again until presence answers', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.refusals[0](new Error('503'));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['starting']);
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    nats.refusals[1](new Error('TIMEOUT'));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    expect(nats.answers).toHaveLength(3);
    nats.answers[2](presence());
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS * 10);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
    expect(nats.answers).toHaveLength(3);
  });

  it('an error answer or a malformed one is a failed get: nothing changes, and the user is asked about again', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.answers[0]({ error: 'Redis is away' } as never);
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    nats.answers[1](presence({ epoch: -1 }));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    nats.answers[2](presence());
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
  });

  it('no more gets once the user\'s last tab left', async () => {
    const { nats, views, here } = setup();
    nats.refusals[0](new Error('503'));
    await jest.advanceTimersByTimeAsync(0);
    here.delete('u');
    views.forget('u');
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS * 10);
    expect(nats.answers).toHaveLength(1);
  });

  it("a tab shown stopping is got again once its cleanup's time has passed: a lost cancelled does not leave it there", async () => {
    const { nats, tab } = setup();
    const a = tab();
    const cleanupAt = new Date(Date.now() + 5000).toISOString();
    nats.answers[0](presence({ status: 'grace', epoch: 11, cleanupAt }));
    // Before its time, the tab's join may be on its way: presence is not asked again.
    await jest.advanceTimersByTimeAsync(5000 + GET_AGAIN_MS - 1);
    expect(nats.answers).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    // Presence is still behind: the same answer, and another get later.
    nats.answers[1](presence({ status: 'grace', epoch: 11, cleanupAt }));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    nats.answers[2](presence({ epoch: 12 }));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS * 10);
    expect(nats.answers).toHaveLength(3);
    expect(a.got.map((v) => v.state)).toEqual(['stopping', 'running']);
  });

  it('a tab shown stopped is got again until presence has its join', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.answers[0](presence({ status: 'offline', epoch: 12, manager: null }));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS);
    nats.answers[1](presence({ epoch: 13 }));
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS * 10);
    expect(nats.answers).toHaveLength(2);
    expect(a.got.map((v) => v.state)).toEqual(['stopped', 'running']);
  });

  it('a cleanup cancelled in time needs no second get', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.answers[0](presence({ status: 'grace', epoch: 11, cleanupAt: new Date(Date.now() + 5000).toISOString() }));
    await jest.advanceTimersByTimeAsync(0);
    nats.deliver(CleanupSubjects.cancelled('u'), { userId: 'u', at, epoch: 12 });
    await jest.advanceTimersByTimeAsync(60_000);
    expect(nats.answers).toHaveLength(1);
    expect(a.got.map((v) => v.state)).toEqual(['stopping', 'running']);
  });

  it('after our NATS link comes back, every followed user is got again', async () => {
    const { nats, views, tab, here } = setup();
    here.add('v');
    views.follow('v');
    const a = tab();
    nats.answers[0](presence({ manager: null }));
    await jest.advanceTimersByTimeAsync(0);
    nats.reconnect();
    expect(nats.answers).toHaveLength(4);
    nats.answers[2](presence());
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
  });
});
