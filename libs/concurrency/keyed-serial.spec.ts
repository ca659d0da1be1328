import { describe, it, expect } from '@jest/globals';
import { KeyedSerial } from './keyed-serial.js';

/** A piece of work that finishes only when the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('KeyedSerial', () => {
  it('runs one key in order, each piece after the previous one finished', async () => {
    const q = new KeyedSerial(() => undefined, 8);
    const log: string[] = [];
    const first = gate();
    void q.run('alice', async () => {
      log.push('a1 start');
      await first.opened;
      log.push('a1 end');
    });
    void q.run('alice', async () => {
      log.push('a2');
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a1 start']);
    first.open();
    await q.idle();
    expect(log).toEqual(['a1 start', 'a1 end', 'a2']);
  });

  it('does not hold one key behind another', async () => {
    const q = new KeyedSerial(() => undefined, 8);
    const stuck = gate();
    const ran: string[] = [];
    void q.run('alice', () => stuck.opened);
    await q.run('bob', async () => {
      ran.push('bob');
    });
    expect(ran).toEqual(['bob']);
    expect(q.size).toBe(1);
    expect(q.busy('alice')).toBe(true);
    expect(q.busy('bob')).toBe(false);
    stuck.open();
    await q.idle();
    expect(q.size).toBe(0);
    expect(q.busy('alice')).toBe(false);
  });

  it('reports a failure with its key and goes on with the key; the failed run resolves', async () => {
    const errors: string[] = [];
    const q = new KeyedSerial((key, e) => errors.push(`${key}: ${(e as Error).message}`), 8);
    const ran: string[] = [];
    const failed = q.run('alice', async () => {
      throw new Error('boom');
    });
    await q.run('alice', async () => {
      ran.push('after');
    });
    await expect(failed).resolves.toBeUndefined();
    expect(errors).toEqual(['alice: boom']);
    expect(ran).toEqual(['after']);
  });

  it('forgets a key once its work is done, and runs work queued from inside the loop later', async () => {
    const q = new KeyedSerial(() => undefined, 8);
    let ran = false;
    const p = q.run('alice', async () => {
      ran = true;
    });
    expect(ran).toBe(false);
    expect(q.busy('alice')).toBe(true);
    await p;
    await new Promise((r) => setImmediate(r));
    expect(ran).toBe(true);
    expect(q.size).toBe(0);
  });

  it('runs at most `concurrency` keys at once, the oldest waiting first', async () => {
    const q = new KeyedSerial(() => undefined, 2);
    const gates = new Map<string, ReturnType<typeof gate>>();
    const started: string[] = [];
    for (const k of ['a', 'b', 'c', 'd']) {
      const g = gate();
      gates.set(k, g);
      void q.run(k, async () => {
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
    await q.idle();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    expect(q.size).toBe(0);
  });

  it('unbounded (a worker\'s transitions): every key at once, one key\'s after a failure still in order', async () => {
    const errors: string[] = [];
    const q = new KeyedSerial((key, err) => errors.push(`${key}: ${(err as Error).message}`));
    const order: string[] = [];
    const first = gate();
    const started: string[] = [];
    const others = Array.from({ length: 100 }, (_, i) =>
      q.run(`u${i}`, async () => {
        started.push(`u${i}`);
        await first.opened;
      }),
    );
    const a1 = q.run('alice', () => first.opened.then(() => void order.push('alice 1')));
    const failing = q.run('alice', async () => Promise.reject(new Error('boom')));
    const a2 = q.run('alice', async () => void order.push('alice 2'));
    await q.run('bob', async () => void order.push('bob'));
    expect(started).toHaveLength(100);
    expect(order).toEqual(['bob']);
    expect(q.busy('alice')).toBe(true);
    const idle = q.idle();
    first.open();
    await Promise.all([a1, failing, a2, ...others]);
    expect(order).toEqual(['bob', 'alice 1', 'alice 2']);
    expect(errors).toEqual(['alice: boom']);
    await idle;
    expect(q.busy('alice')).toBe(false);
  });

  it('idle waits for the work queued before it, not for work queued later; a report that throws does not stick a key', async () => {
    const q = new KeyedSerial(() => {
      throw new Error('the report itself failed');
    });
    const early = gate();
    const late = gate();
    const ranEarly = q.run('alice', () => early.opened);
    let idled = false;
    const idle = q.idle().then(() => (idled = true));
    const ranLate = q.run('bob', () => late.opened);
    early.open();
    await ranEarly;
    await idle;
    expect(idled).toBe(true);
    expect(q.busy('bob')).toBe(true);
    late.open();
    await ranLate;
    await q.run('carol', async () => Promise.reject(new Error('boom')));
    expect(q.busy('carol')).toBe(false);
    let after = false;
    await q.run('carol', async () => void (after = true));
    expect(after).toBe(true);
  });
});
