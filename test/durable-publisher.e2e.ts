import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { DurablePublisher } from '#libs/nats/durable-publisher.js';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { spawn } from 'node:child_process';
import { Backends, freePort, ROOT } from './support/harness.js';

jest.setTimeout(60_000);

/** The gateways' durable publishing against a real nats-server with JetStream. */
const backends = new Backends();
let nc: NatsConnection;
let jsm: JetStreamManager;
let n = 0;

beforeAll(async () => {
  backends.natsPort = await freePort();
  await backends.startNats();
  nc = await connect(natsConnectionOptions(backends.natsUrl, 'e2e-durable'));
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

  it('publishStored answers the stream sequence each message is stored under; a duplicate answers its original', async () => {
    const { name, subject } = await freshStream();
    const p = new DurablePublisher(nc);
    const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => p.publishStored(subject, JSON.stringify({ i }), `s-${i}`)));
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await p.publishStored(subject, '{"i":3}', 's-3')).toBe(4);
    expect((await jsm.streams.getMessage(name, { seq: 4 }))?.json()).toEqual({ i: 3 });
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

  it('does not send a publish again while acks of earlier ones keep coming (JetStream working through a backlog)', async () => {
    // A stand-in for a stream that is behind: it acknowledges one message every 40 ms, in order,
    // so the last of 20 waits 800 ms for its ack, well past the 300 ms timeout.
    const subject = `dp-slow${++n}.x`;
    const { seen, stop } = ackInOrder(subject, 40);
    const retries: string[] = [];
    const p = new DurablePublisher(nc, { timeoutMs: 300, onRetry: (_s, why, _a, count) => retries.push(`${count} x ${why}`) });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => p.publish(subject, String(i), `slow-${i}`)));
    expect(results).toEqual(Array(20).fill(true));
    expect(retries).toEqual([]);
    expect([...seen.values()]).toEqual(Array(20).fill(1));
    stop();
    p.close();
  });

  it('sends again what no ack overtakes within the timeout, and reports the repeats in a few lines with counts, not one each', async () => {
    const subject = `dp-lost${++n}.x`;
    const { seen, stop } = losesFirstCopy(subject);
    const reports: Array<{ why: string; count: number }> = [];
    const p = new DurablePublisher(nc, { timeoutMs: 200, onRetry: (_s, why, _a, count) => reports.push({ why, count }) });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => p.publish(subject, String(i), `lost-${i}`)));
    expect(results).toEqual(Array(50).fill(true));
    expect([...seen.values()]).toEqual(Array(50).fill(2));
    // A line per sweep that found some overdue, with their count: not a line per publish. (The 50
    // may fall into two sweeps on a busy machine.)
    expect(reports.reduce((n, r) => n + r.count, 0)).toBe(50);
    expect(new Set(reports.map((r) => r.why))).toEqual(new Set(['no ack within 200 ms']));
    expect(reports.length).toBeLessThanOrEqual(5);
    stop();
    p.close();
  });

  it('resend() sends at once what is in flight (after a reconnect it may have died with the old socket)', async () => {
    const subject = `dp-resend${++n}.x`;
    const { seen, stop } = losesFirstCopy(subject);
    // A timeout far beyond the test's own: only resend() can get these stored in time.
    const p = new DurablePublisher(nc, { timeoutMs: 60_000 });
    const done = Promise.all(Array.from({ length: 10 }, (_, i) => p.publish(subject, String(i), `re-${i}`)));
    await until(() => seen.size === 10);
    p.resend();
    expect(await done).toEqual(Array(10).fill(true));
    expect([...seen.values()]).toEqual(Array(10).fill(2));
    stop();
    p.close();
  });

  it('publishes made during one long turn of the loop leave while it runs, a batch at a time, not at its end', async () => {
    const { subject } = await freshStream();
    // Another process watches the subject: this one is blocked for the whole callback.
    const watcher = spawn(process.execPath, ['-e', `
      const { connect } = require('@nats-io/transport-node');
      connect(${JSON.stringify((({ servers, user, pass }) => ({ servers, user, pass }))(natsConnectionOptions(backends.natsUrl, 'e2e-watcher')))}).then(async (nc) => {
        nc.subscribe(${JSON.stringify(subject)}, { callback: () => process.stdout.write(Date.now() + '\\n') });
        await nc.flush();
        process.stdout.write('ready\\n');
      });`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const seen: number[] = [];
    let ready = false;
    watcher.stdout!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        if (line === 'ready') ready = true;
        else seen.push(Number(line));
      }
    });
    await until(() => ready);
    const p = new DurablePublisher(nc);
    // What a gateway closing thousands of sockets in one turn of its loop does: 300 callbacks of
    // one turn (immediates, like I/O callbacks, run back to back with only microtasks between them),
    // each publishing once and busy for 2 ms.
    const done: Array<Promise<boolean>> = [];
    let start = 0;
    let blockedUntil = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 300; i++) {
        setImmediate(() => {
          start ||= Date.now();
          done.push(p.publish(subject, String(i), `long-${i}`));
          blockLoop(2);
          if (i === 299) {
            blockedUntil = Date.now();
            resolve();
          }
        });
      }
    });
    expect(blockedUntil - start).toBeGreaterThanOrEqual(600);
    expect((await Promise.all(done)).every(Boolean)).toBe(true);
    await until(() => seen.length === 300);
    watcher.kill();
    // The publishes reached NATS while the turn still ran, the first well before its end (held to
    // the end of the turn, none would). Loose bounds: the watcher shares a busy machine.
    expect(seen[0]).toBeLessThan(blockedUntil - 300);
    expect(seen.filter((t) => t < blockedUntil).length).toBeGreaterThan(150);
    p.close();
  });

  it('resolves false for what is pending when the connection closes', async () => {
    const own = await connect(natsConnectionOptions(backends.natsUrl, 'e2e-durable-own'));
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

/** Answers each message on `subject` with a JetStream-shaped ack, one every `everyMs`, in order; counts copies by message id. */
function ackInOrder(subject: string, everyMs: number) {
  const seen = new Map<string, number>();
  const queue: Msg[] = [];
  let seq = 0;
  const sub = nc.subscribe(subject, {
    callback: (_e, m) => {
      const id = m.headers?.get('Nats-Msg-Id') ?? '';
      seen.set(id, (seen.get(id) ?? 0) + 1);
      queue.push(m);
    },
  });
  const timer = setInterval(() => queue.shift()?.respond(JSON.stringify({ stream: 'FAKE', seq: ++seq })), everyMs);
  return {
    seen,
    stop: () => {
      clearInterval(timer);
      sub.unsubscribe();
    },
  };
}

/** Acks the second copy of each message on `subject` and drops the first, as a server that died with them would; counts copies by message id. */
function losesFirstCopy(subject: string) {
  const seen = new Map<string, number>();
  const sub = nc.subscribe(subject, {
    callback: (_e, m) => {
      const id = m.headers?.get('Nats-Msg-Id') ?? '';
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (seen.get(id)! > 1) m.respond(JSON.stringify({ stream: 'FAKE', seq: seen.size }));
    },
  });
  return { seen, stop: () => sub.unsubscribe() };
}
