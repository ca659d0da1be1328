import { describe, expect, it } from '@jest/globals';
import { CleanupSubjects, ManagerSubjects } from '#libs/contracts/index.js';
import type { PresenceSocket as Socket } from '../socket-types.js';
import { noManagerYet, presence, setup, quietLogs } from './manager-view.service.fake.js';

quietLogs();

describe('ManagerViewService: every tab of a user ends on the same state', () => {
  it('two tabs greeted across a cancelled cleanup both end running (the stale answer first)', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const b = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    // A's query was answered before presence applied the return, B's after it.
    nats.answers[0](presence('2030-01-01T00:00:05.000Z'));
    await greetA;
    expect(a.last).toBe('stopping');
    nats.answers[1](presence(null));
    await greetB;
    // The cancellation itself arrives last, equal to what B's answer said.
    nats.deliver(CleanupSubjects.cancelled('u'), { userId: 'u', at: '2030-01-01T00:00:01.000Z' });
    expect(b.last).toBe('running');
    expect(a.last).toBe('running');
  });

  it('an answer equal to what the tabs were told is sent to the greeting tab only', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const b = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    nats.answers[0](presence(null));
    await greetA;
    nats.answers[1](presence(null));
    await greetB;
    expect(a.got.map((v) => v.state)).toEqual(['running']);
    expect(b.got.map((v) => v.state)).toEqual(['running']);
  });
});

describe('ManagerViewService: one `manager` event per change', () => {
  it('an event that overtakes the greeting query reaches the tab once, and the stale answer not at all', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.000Z' });
    nats.answers[0]({ userId: 'u', metas: [], cleanupAt: null, manager: null });
    await greet;
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });
});

describe('ManagerViewService: a user who leaves and comes back', () => {
  it("is not sent the late answer of their earlier tab's query (asked before the manager started)", async () => {
    const { nats, views, tab, here } = setup();
    const a = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    // Presence read its state before the lease; the manager then started and the event reached this
    // gateway, but the answer itself is slow. Meanwhile the tab closes and the user opens another.
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.000Z' });
    here.delete('u');
    views.forget('u');
    here.add('u');
    views.follow('u');
    const b = tab('u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    nats.answers[1](presence(null));
    await greetB;
    expect(b.last).toBe('running');
    nats.answers[0](noManagerYet());
    await greetA;
    expect(b.got.map((v) => v.state)).toEqual(['running']);
  });

  it('an answer that arrives after the user left keeps nothing for them', async () => {
    const { nats, views, tab, here } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    here.delete('u');
    views.forget('u');
    nats.answers[0](presence(null));
    await greet;
    // Nothing known: a new tab of theirs is greeted with a fresh question, not the old answer.
    here.add('u');
    views.follow('u');
    void views.greet(tab('u') as unknown as Socket, 'u');
    expect(nats.answers).toHaveLength(2);
  });
});
