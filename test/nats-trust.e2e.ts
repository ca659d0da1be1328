import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { AUDIT_STREAM } from '#libs/nats/streams.js';
import { Stack, Tab, sleep, uniqueUser, until } from './support/harness.js';

/**
 * An attacker on the NATS network, as deploy/nats/nats.conf meets them: without credentials nothing
 * connects; with a stolen gateway credential, none of the moves that do harm beyond what a gateway
 * does anyway is let through: NATS refuses each with a permission violation, and the system's
 * state does not change. (What a gateway credential can still do, forge joins and leaves and
 * heartbeats, is a gateway's job; docs/SECURITY.md says so.)
 */

jest.setTimeout(90_000);

const stack = new Stack();
let victim: string;
let tab: Tab;

beforeAll(async () => {
  await stack.start();
  await stack.firstResync();
  victim = uniqueUser('victim');
  tab = await stack.tab(victim);
  await stack.observer.waitFor(`stream.manager.${victim}.started`);
});
afterAll(async () => {
  tab?.close();
  await stack.stop();
});

async function streamMessages(): Promise<number> {
  const jsm = await jetstreamManager(stack.observer.nc);
  return (await jsm.streams.info(AUDIT_STREAM)).state.messages;
}

describe('NATS refuses a client without credentials', () => {
  it('cannot connect at all, so it can publish, subscribe or request nothing', async () => {
    const attempt = connect({ ...natsConnectionOptions(stack.backends.natsUrlAs('anonymous'), 'intruder'), maxReconnectAttempts: 0, timeout: 3000 });
    await expect(attempt).rejects.toThrow(/Authorization Violation/i);
    const wrongPassword = stack.backends.natsUrlAs('gateway').replace(/:[^:@/]+@/, ':guessed@');
    await expect(connect({ ...natsConnectionOptions(wrongPassword, 'intruder'), maxReconnectAttempts: 0, timeout: 3000 })).rejects.toThrow(/Authorization Violation/i);
  });
});

describe('NATS refuses the harmful moves of a client holding the gateway identity', () => {
  let gw: NatsConnection;
  const violations: string[] = [];

  beforeAll(async () => {
    gw = await connect(natsConnectionOptions(stack.backends.natsUrlAs('gateway'), 'stolen-gateway-credential'));
    void (async () => {
      for await (const s of gw.status()) if (s.type === 'error') violations.push(s.error.message);
    })();
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** Publishes, and waits for the server's refusal of exactly that subject. */
  async function refused(subject: string, body: object) {
    gw.publish(subject, JSON.stringify(body));
    await gw.flush();
    await until(`permission violation for ${subject}`, () => violations.some((v) => v.includes(`Publish to "${subject}"`)), 5000);
  }

  it('each action is refused, and the victim keeps their session, manager, log and audit trail', async () => {
    const at = new Date().toISOString();
    const gatewayId = stack.gateway.env.INSTANCE_ID;
    const sessionId = tab.sessionEvents[0]?.sessionId ?? 'any';
    const auditBefore = await streamMessages();
    const resyncsBefore = stack.observer.on('presence.gateway.resync').length;

    // End the victim's tab: a forged refusal to its gateway.
    await refused(`presence.gateway.${gatewayId}.refused`, { sessionId, userId: victim, reason: 'forged', at });
    // Stop their manager: a forged offline, an admin stop (bare and under an operator's name).
    await refused(`presence.user.${victim}.offline`, { userId: victim, reason: 'admin', at });
    await refused('presence.admin.stop', { userId: victim, by: 'someone' });
    await refused('presence.admin.stop.operator', { userId: victim });
    await refused(`presence.cleanup.${victim}.scheduled`, { userId: victim, runAt: at, at });
    // Forged dashboard content: ticks and a `stopped`.
    await refused(`stream.console.${victim}.tick`, { userId: victim, n: 999_999, at });
    await refused(`stream.manager.${victim}.stopped`, { userId: victim, workerId: 'forged', reason: 'forged', at });
    // Make presence re-publish joins on demand; make every gateway drop a user.
    await refused('presence.gateway.resync', { at });
    await refused('presence.gateway.user_ended', { userId: victim, reason: 'forged', until: at, at });
    // A forged audit record, and the audit stream purged or deleted through the JetStream API.
    await refused('presence.audit.admin.stop', { action: 'stop', target: victim, outcome: 'done', message: 'forged', instanceId: 'x', at });
    await refused(`$JS.API.STREAM.PURGE.${AUDIT_STREAM}`, {});
    await refused(`$JS.API.STREAM.DELETE.${AUDIT_STREAM}`, {});
    await refused(`$JS.API.STREAM.UPDATE.${AUDIT_STREAM}`, { name: AUDIT_STREAM, subjects: ['nothing'] });
    await refused(`$JS.API.CONSUMER.DELETE.${AUDIT_STREAM}.presence-sessions`, {});

    // Nothing of it reached anyone, and nothing changed.
    await sleep(500);
    for (const subject of [`presence.user.${victim}.offline`, `stream.console.${victim}.tick`, `stream.manager.${victim}.stopped`, 'presence.audit.admin.stop']) {
      expect([subject, stack.observer.on(subject).filter((s) => s.data.workerId === 'forged' || s.data.message === 'forged' || s.data.n === 999_999 || s.data.reason === 'admin')]).toEqual([subject, []]);
    }
    expect(stack.observer.on('presence.gateway.resync')).toHaveLength(resyncsBefore);
    expect(tab.socket.connected).toBe(true);
    expect(tab.managerEvents.map((m) => m.state)).not.toContain('stopped');
    const user = await stack.observer.request<{ metas: unknown[] }>('presence.query.user', { userId: victim });
    expect(user.metas).toHaveLength(1);
    expect(await streamMessages()).toBeGreaterThanOrEqual(auditBefore);
    expect(stack.observer.on(`stream.manager.${victim}.stopped`)).toHaveLength(0);
  });

  it('cannot listen in on the admin requests, other roles\' replies, nor answer the services', () => {
    const subjects = ['presence.admin.>', 'presence.query.users', '$SRV.PING', '_INBOX.>', '_INBOX_presence.>', '>'];
    for (const subject of subjects) gw.subscribe(subject, { callback: () => undefined });
    return until('subscription violations', () => subjects.every((s) => violations.some((v) => v.includes(`Subscription to "${s}"`))), 5000);
  });
});
