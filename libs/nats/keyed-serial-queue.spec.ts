import { describe, it, expect } from '@jest/globals';
import { KeyedSerialQueue } from './keyed-serial-queue.js';

/** A piece of work that finishes only when the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('KeyedSerialQueue', () => {
  it('runs one key in order, each piece after the previous one finished', async () => {
    const q = new KeyedSerialQueue(8, () => undefined);
    const log: string[] = [];
    const first = gate();
    void q.push('alice', async () => {
      log.push('a1 start');
      await first.opened;
      log.push('a1 end');
    });
    void q.push('alice', async () => {
      log.push('a2');
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a1 start']);
    first.open();
    await q.drain();
    expect(log).toEqual(['a1 start', 'a1 end', 'a2']);
  });

  it('does not hold one key behind another', async () => {
    const q = new KeyedSerialQueue(8, () => undefined);
    const stuck = gate();
    const ran: string[] = [];
    void q.push('alice', () => stuck.opened);
    await q.push('bob', async () => {
      ran.push('bob');
    });
    expect(ran).toEqual(['bob']);
    expect(q.size).toBe(1);
    stuck.open();
    await q.drain();
    expect(q.size).toBe(0);
  });

  it('reports a failure and goes on with the key', async () => {
    const errors: unknown[] = [];
    const q = new KeyedSerialQueue(8, (e) => errors.push(e));
    const ran: string[] = [];
    void q.push('alice', async () => {
      throw new Error('boom');
    });
    await q.push('alice', async () => {
      ran.push('after');
    });
    expect((errors[0] as Error).message).toBe('boom');
    expect(ran).toEqual(['after']);
  });

  it('forgets a key once its work is done, and runs a push from inside the loop later', async () => {
    const q = new KeyedSerialQueue(8, () => undefined);
    let ran = false;
    const p = q.push('alice', async () => {
      ran = true;
    });
    expect(ran).toBe(false);
    await p;
    await new Promise((r) => setImmediate(r));
    expect(ran).toBe(true);
    expect(q.size).toBe(0);
  });

  it('runs at most `concurrency` keys at once, the oldest waiting first', async () => {
    const q = new KeyedSerialQueue(2, () => undefined);
    const gates = new Map<string, ReturnType<typeof gate>>();
    const started: string[] = [];
    for (const k of ['a', 'b', 'c', 'd']) {
      const g = gate();
      gates.set(k, g);
      void q.push(k, async () => {
        started.push(k);
        await g.opened;
      });
    }
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b']);
    gates.get('b')!.open();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b', 'c']);
    gates.get('a')!.open();
    gates.get('c')!.open();
    gates.get('d')!.open();
    await q.drain();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    expect(q.size).toBe(0);
  });
});
