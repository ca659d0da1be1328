import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { NatsService } from '#libs/nats/nats.service.js';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER, ensureStreams } from '#libs/nats/streams.js';
import { SessionSubjects } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';
import { BARRIER_MAX_WAIT_MS, PENDING_JOIN_MAX_WAIT_MS, SessionEventsBarrier, WALK_FROM_WAITERS } from '../apps/presence/cleanup/session-events-barrier.js';
import { Backends, freePort } from './support/harness.js';

jest.setTimeout(60_000);

/**
 * Presence's cleanup barrier against a real nats-server with the real stream and durable consumer:
 * the test plays presence's consumer itself, so it decides which session events are applied
 * (acknowledged) when the cleanups come due.
 */
const backends = new Backends();
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
let metrics: Metrics;
let barrier: SessionEventsBarrier;

beforeAll(async () => {
  backends.natsPort = await freePort();
  await backends.startNats();
  nc = await connect(natsConnectionOptions(backends.natsUrl, 'e2e-barrier'));
  jsm = await jetstreamManager(nc);
  js = jetstream(nc);
  await ensureStreams(jsm, 60_000);
  metrics = new Metrics();
  barrier = new SessionEventsBarrier(new NatsService(nc, metrics), metrics);
});
afterAll(async () => {
  await nc?.close();
  await backends.stop();
});

async function lookups(kind: 'walk' | 'user'): Promise<number> {
  const m = await metrics.cleanupBarrierLookups.get();
  return m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

/** Takes every stored session event as presence would, acknowledging all but `keep`'s. */
async function applyAllBut(keep: (subject: string) => boolean) {
  const consumer = await js.consumers.get(AUDIT_STREAM, PRESENCE_CONSUMER);
  const held = [];
  let pending = (await consumer.info()).num_pending;
  while (pending > 0) {
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 5000 })) {
      pending--;
      if (keep(m.subject)) held.push(m);
      else m.ack();
    }
  }
  await nc.flush();
  return held;
}

describe('SessionEventsBarrier (real NATS)', () => {
  it('many cleanups due at once: one walk of the stream answers all of them; only the user whose return is stored and unapplied waits, until it is applied', async () => {
    const users = Array.from({ length: Math.max(12, WALK_FROM_WAITERS + 2) }, (_, i) => `barrier-u${i}`);
    const back = users[3];
    for (const u of users) await js.publish(SessionSubjects.left(u), JSON.stringify({ userId: u }));
    // Another user's join, applied already, and back's return, stored but not applied yet.
    await js.publish(SessionSubjects.joined('barrier-other'), '{}');
    await js.publish(SessionSubjects.joined(back), '{}');
    const held = await applyAllBut((s) => s === SessionSubjects.joined(back));
    expect(held).toHaveLength(1);
    const [walks0, users0] = [await lookups('walk'), await lookups('user')];

    const released = new Set<string>();
    const waits = users.map((u) => barrier.caughtUp(u).then(() => released.add(u)));
    // Every other user's cleanup goes ahead; back's waits for its return.
    await Promise.all(waits.filter((_, i) => users[i] !== back));
    expect(released.has(back)).toBe(false);
    expect(await lookups('walk')).toBeGreaterThan(walks0);
    expect(await lookups('user')).toBe(users0);

    const since = Date.now();
    held[0].ack();
    await waits[users.indexOf(back)];
    // Released because its return was applied, well before the barrier's cap.
    expect(Date.now() - since).toBeLessThan(BARRIER_MAX_WAIT_MS);
  });

  it('a return stored after the cleanup came due does not hold it', async () => {
    const users = Array.from({ length: WALK_FROM_WAITERS }, (_, i) => `late-u${i}`);
    await js.publish(SessionSubjects.joined('late-blocker'), '{}');
    // Something unapplied, so that the consumer is not idle and the stream is read.
    const held = await applyAllBut((s) => s === SessionSubjects.joined('late-blocker'));
    const t0 = Date.now();
    const waits = users.map((u) => barrier.caughtUp(u));
    // Stored strictly after they came due (a join in the same millisecond counts as before).
    while (Date.now() <= t0 + 1) await new Promise((r) => setImmediate(r));
    await js.publish(SessionSubjects.joined(users[0]), '{}');
    const since = Date.now();
    await Promise.all(waits);
    expect(Date.now() - since).toBeLessThan(BARRIER_MAX_WAIT_MS);
    held[0].ack();
    await applyAllBut(() => false);
  });

  it("a few cleanups (each looks its user up): a return stored before the cleanup came due holds it, even when the user joined again after", async () => {
    const [u, other] = ['few-u', 'few-other'];
    await js.publish(SessionSubjects.joined(u), '{}');
    const [before] = await applyAllBut((s) => s === SessionSubjects.joined(u));
    // The cleanups come due at `due`; the same user joins again after that, so that the user's last
    // join is the later one, which alone must not decide. Both joins are stored before the barrier
    // reads the stream: the cleanups' due time is set in the past with a fake Date.
    const due = Date.now();
    while (Date.now() <= due + 1) await new Promise((r) => setImmediate(r));
    await js.publish(SessionSubjects.joined(u), '{}');
    const users0 = await lookups('user');
    jest.useFakeTimers({ now: due, doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
    const released = new Set<string>();
    const waits = [u, other].map((x) => barrier.caughtUp(x).then(() => released.add(x)));
    jest.useRealTimers();

    await waits[1];
    expect(released.has(u)).toBe(false);
    expect(await lookups('user')).toBeGreaterThan(users0);
    const since = Date.now();
    before.ack();
    await waits[0];
    expect(Date.now() - since).toBeLessThan(BARRIER_MAX_WAIT_MS);
    await applyAllBut(() => false);
  });

  it('a return held back longer than a redelivery back-off (Redis was away) still holds its cleanup, up to a cap', async () => {
    const u = 'slow-return';
    await js.publish(SessionSubjects.joined(u), '{}');
    const [held] = await applyAllBut((s) => s === SessionSubjects.joined(u));
    let released = false;
    const wait = barrier.caughtUp(u).then(() => (released = true));
    await new Promise((r) => setTimeout(r, BARRIER_MAX_WAIT_MS + 1000));
    expect(released).toBe(false);
    const since = Date.now();
    held.ack();
    await wait;
    expect(Date.now() - since).toBeLessThan(BARRIER_MAX_WAIT_MS);

    // Never applied: the cleanup goes ahead at the cap, not never.
    await js.publish(SessionSubjects.joined(u), '{}');
    const [stuck] = await applyAllBut((s) => s === SessionSubjects.joined(u));
    const t = Date.now();
    await barrier.caughtUp(u);
    expect(Date.now() - t).toBeGreaterThanOrEqual(PENDING_JOIN_MAX_WAIT_MS);
    stuck.ack();
    await applyAllBut(() => false);
  }, PENDING_JOIN_MAX_WAIT_MS + 20_000);

  it('storedApplied (a presence.query.users answer): waits until the session events stored before it are applied, or the cap', async () => {
    await applyAllBut(() => false);
    // Caught up, and the newest message is not a session event: nothing to wait for.
    await js.publish('presence.user.read-own.offline', '{}');
    let t = Date.now();
    await barrier.storedApplied();
    expect(Date.now() - t).toBeLessThan(BARRIER_MAX_WAIT_MS);

    // A join stored and not applied yet: the answer waits for it.
    await js.publish(SessionSubjects.joined('read-own'), '{}');
    const [held] = await applyAllBut(() => true);
    let answered = false;
    const answer = barrier.storedApplied().then(() => (answered = true));
    // Several of the barrier's polls later, still waiting.
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).toBe(false);
    t = Date.now();
    held.ack();
    await answer;
    expect(Date.now() - t).toBeLessThan(BARRIER_MAX_WAIT_MS);

    // Never applied (a stuck event): the answer comes at the cap, not never.
    await js.publish(SessionSubjects.joined('read-own'), '{}');
    const [stuck] = await applyAllBut(() => true);
    t = Date.now();
    await barrier.storedApplied();
    expect(Date.now() - t).toBeGreaterThanOrEqual(BARRIER_MAX_WAIT_MS);
    stuck.ack();
  });
});
