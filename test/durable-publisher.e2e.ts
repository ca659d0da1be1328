import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { DurablePublisher } from '#libs/nats/durable-publisher.js';
import { Backends, freePort } from './support/harness.js';

jest.setTimeout(60_000);

/** The gateways' durable publishing against a real nats-server with JetStream. */
const backends = new Backends();
let nc: NatsConnection;
let jsm: JetStreamManager;
let n = 0;

beforeAll(async () => {
  backends.natsPort = await freePort();
  await backends.startNats();
  nc = await connect({ servers: backends.natsUrl });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await backends.stop();
});

async function freshStream(): Promise<{ name: string; subject: string }> {
  const name = `DP_${++n}`;
  await jsm.streams.add({ name, subjects: [`dp${n}.>`] });
  return { name, subject: `dp${n}.x` };
}

function blockLoop(ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('DurablePublisher (real NATS JetStream)', () => {
  it('resolves once the stream stored each message; a repeated message id is stored once', async () => {
    const { name, subject } = await freshStream();
    const p = new DurablePublisher(nc);
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => p.publish(subject, JSON.stringify({ i }), `m-${i}`)));
    expect(results.every(Boolean)).toBe(true);
    expect(await p.publish(subject, '{"i":0}', 'm-0')).toBe(true);
    expect((await jsm.streams.info(name)).state.messages).toBe(500);
    expect(p.pending).toBe(0);
    p.close();
  });

  it('keeps at most maxInFlight publishes awaiting acks and still stores them all, in order', async () => {
    const { name, subject } = await freshStream();
    const p = new DurablePublisher(nc, { maxInFlight: 7 });
    const done = Promise.all(Array.from({ length: 100 }, (_, i) => p.publish(subject, String(i), `o-${i}`)));
    expect(p.pending).toBe(100);
    expect(await done).toEqual(Array(100).fill(true));
    const first = await jsm.streams.getMessage(name, { seq: 1 });
    const last = await jsm.streams.getMessage(name, { seq: 100 });
    expect([first?.string(), last?.string()]).toEqual(['0', '99']);
    p.close();
  });

  it('does not count acks that wait in the socket while the event loop is blocked past the timeout as lost', async () => {
    const { name, subject } = await freshStream();
    const retries: string[] = [];
    const p = new DurablePublisher(nc, { timeoutMs: 300, onRetry: (_s, why) => retries.push(why) });
    const done = Promise.all(Array.from({ length: 2000 }, (_, i) => p.publish(subject, String(i), `b-${i}`)));
    // What closing thousands of sockets in one go does to a gateway: the loop is busy for longer than
    // the ack timeout while the acks arrive.
    await new Promise((r) => setImmediate(r));
    blockLoop(800);
    expect((await done).every(Boolean)).toBe(true);
    expect(retries).toEqual([]);
    expect((await jsm.streams.info(name)).state.messages).toBe(2000);
    p.close();
  });

  it('retries a publish no stream takes (no responders) until a stream exists, then resolves', async () => {
    const retries: string[] = [];
    const p = new DurablePublisher(nc, { onRetry: (_s, why) => retries.push(why) });
    const subject = `dp-late${++n}.x`;
    const stored = p.publish(subject, 'late', 'late-1');
    await until(() => retries.length > 0);
    expect(retries[0]).toMatch(/503|no responders/i);
    await jsm.streams.add({ name: `DP_LATE_${n}`, subjects: [`dp-late${n}.>`] });
    expect(await stored).toBe(true);
    expect((await jsm.streams.info(`DP_LATE_${n}`)).state.messages).toBe(1);
    p.close();
  });

  it('resolves false for what is pending when the connection closes', async () => {
    const own = await connect({ servers: backends.natsUrl });
    const p = new DurablePublisher(own);
    const never = p.publish(`nowhere${++n}.x`, 'x', 'x-1');
    await own.close();
    expect(await never).toBe(false);
    expect(await p.publish(`nowhere${n}.x`, 'y', 'y-1')).toBe(false);
  });
});

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
