import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { CleanupSubjects, ManagerSubjects, UserSubjects } from '#libs/contracts/index.js';
import { FIRST_GET_MS, GET_AGAIN_MS } from './manager-view.service.js';
import { at, presence, quietLogs, setup } from './manager-view.service.fake.js';

quietLogs();
beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});
/** The first get is sent FIRST_GET_MS after the follow, unless the events told the view first. */
const firstGet = () => jest.advanceTimersByTimeAsync(FIRST_GET_MS);

describe('ManagerViewService: subscribe, then get, then only newer', () => {
  it('a tab that connected before the answer is told once, by the answer', async () => {
    const { nats, views, tab } = setup();
    const a = tab();
    views.greet(a.socket, 'u');
    await firstGet();
    expect(a.got).toEqual([]);
    nats.answers[0](presence());
    await Promise.resolve();
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('an event that overtakes the answer reaches the tab once, and the older answer not at all', async () => {
    const { nats, tab } = setup();
    const a = tab();
    await firstGet();
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at, generation: 100 });
    nats.answers[0](presence({ manager: null }));
    await Promise.resolve();
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('a later tab is greeted with what the others were told', async () => {
    const { nats, views, tab } = setup();
    tab();
    await firstGet();
    nats.answers[0](presence({ status: 'grace', epoch: 11, cleanupAt: '2030-01-01T00:00:05.000Z' }));
    await Promise.resolve();
    const b = tab();
    views.greet(b.socket, 'u');
    expect(b.got).toEqual([{ userId: 'u', state: 'stopping', workerId: 'w1', cleanupAt: '2030-01-01T00:00:05.000Z' }]);
  });

  it('an answer to a follow the user has left since keeps nothing', async () => {
    const { nats, views, tab, here } = setup();
    await firstGet();
    here.delete('u');
    views.forget('u');
    here.add('u');
    views.follow('u');
    const a = tab();
    await firstGet();
    nats.answers[0](presence());
    await Promise.resolve();
    expect(a.got).toEqual([]);
    nats.answers[1](presence({ manager: null }));
    await Promise.resolve();
    expect(a.last).toBe('starting');
  });
});

describe('ManagerViewService: a user\'s first tab, whose own join usually tells it all', () => {
  it('online, then started: the tab is told both, and presence is never asked', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.deliver(UserSubjects.online('u'), { userId: 'u', at, epoch: 11 });
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at, generation: 101 });
    await jest.advanceTimersByTimeAsync(FIRST_GET_MS * 10);
    expect(nats.answers).toHaveLength(0);
    expect(a.got).toEqual([
      { userId: 'u', state: 'starting' },
      { userId: 'u', state: 'running', workerId: 'w1' },
    ]);
  });

  it('online alone: the manager is slow to start, so presence is asked once, at FIRST_GET_MS', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.deliver(UserSubjects.online('u'), { userId: 'u', at, epoch: 11 });
    await jest.advanceTimersByTimeAsync(FIRST_GET_MS - 1);
    expect(nats.answers).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    nats.answers[0](presence());
    await jest.advanceTimersByTimeAsync(FIRST_GET_MS * 10);
    expect(nats.answers).toHaveLength(1);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
  });

  it('a user already online through another gateway: nothing is heard, and the get answers at FIRST_GET_MS', async () => {
    const { nats, tab } = setup();
    const a = tab();
    await jest.advanceTimersByTimeAsync(FIRST_GET_MS - 1);
    expect(nats.answers).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    nats.answers[0](presence());
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('a cancelled before the first get sends it at once, and the tab hears nothing until the answer', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.deliver(CleanupSubjects.cancelled('u'), { userId: 'u', at, epoch: 12 });
    await jest.advanceTimersByTimeAsync(0);
    expect(nats.answers).toHaveLength(1);
    expect(a.got).toEqual([]);
    nats.answers[0](presence({ status: 'grace', epoch: 11, cleanupAt: '2030-01-01T00:00:05.000Z' }));
    await jest.advanceTimersByTimeAsync(FIRST_GET_MS * 10);
    expect(nats.answers).toHaveLength(1);
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });

  it('an online without its epoch (nats pub by hand) does not stand in for the get', async () => {
    const { nats, tab } = setup();
    const a = tab();
    nats.deliver(UserSubjects.online('u'), { userId: 'u', at });
    await firstGet();
    expect(nats.answers).toHaveLength(1);
    expect(a.got).toEqual([]);
    nats.answers[0](presence());
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['running']);
  });
});

describe('ManagerViewService: what a get that fails, or a lost event, leaves behind', () => {
  it('a failed get: the tab is told starting, and the user is asked about again until presence answers', async () => {
    const { nats, tab } = setup();
    await firstGet();
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
    await firstGet();
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
    await firstGet();
    nats.refusals[0](new Error('503'));
    await jest.advanceTimersByTimeAsync(0);
    here.delete('u');
    views.forget('u');
    await jest.advanceTimersByTimeAsync(GET_AGAIN_MS * 10);
    expect(nats.answers).toHaveLength(1);
  });

  it("a tab shown stopping is got again once its cleanup's time has passed: a lost cancelled does not leave it there", async () => {
    const { nats, tab } = setup();
    await firstGet();
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
    await firstGet();
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
    await firstGet();
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
    await firstGet();
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
