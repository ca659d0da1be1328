import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, Tab, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

interface Tick {
  userId: string;
  n: number;
  at: string;
  workerId: string;
}

/** Every console_log a tab receives, collected without asking for them. */
function received(tab: Tab): Tick[] {
  const seen: Tick[] = [];
  tab.socket.on('console_log', (t: Tick) => seen.push(t));
  return seen;
}

/** The tab asks for its ticks (`presence:console`), as the dashboard page does, and collects them. */
function ticksOf(tab: Tab): Tick[] {
  const seen = received(tab);
  tab.socket.emit('presence:console');
  return seen;
}

describe('ConsoleLogger ticks reach the dashboard: stream.console.<userId>.tick relayed as console_log', () => {
  const stack = new Stack();
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it("each of a user's tabs gets that user's ticks, the ones the worker logs; another user gets none of them", async () => {
    const a = uniqueUser('ticks-a');
    const b = uniqueUser('ticks-b');
    const [a1, a2, b1] = [await stack.tab(a), await stack.tab(a), await stack.tab(b)];
    const [seenA1, seenA2, seenB] = [ticksOf(a1), ticksOf(a2), ticksOf(b1)];
    await until('three ticks on both of A\'s tabs', () => seenA1.length >= 3 && seenA2.length >= 3 && seenB.length >= 1);

    const workerId = stack.worker.env.INSTANCE_ID;
    for (const t of [...seenA1, ...seenA2]) expect(t).toEqual({ userId: a, n: expect.any(Number), at: expect.any(String), workerId, generation: expect.any(Number) });
    expect(seenB.every((t) => t.userId === b)).toBe(true);
    // Consecutive, as counted by the worker, and each one the worker logged with the same time.
    const ns = seenA1.map((t) => t.n);
    expect(ns).toEqual(ns.map((_, i) => ns[0] + i));
    const t0 = seenA1[0];
    expect(stack.worker.grep(new RegExp(`\\[UserStreamManager:${a}\\] Console log #${t0.n} - ${t0.at.replace(/\./g, '\\.')}`))).toHaveLength(1);
    // Plain JSON on core NATS, readable with `nats sub 'stream.console.>'`.
    const onNats = stack.observer.on(`stream.console.${a}.tick`).find((s) => s.data.n === t0.n);
    expect(onNats?.data).toEqual(t0);
    for (const t of [a1, a2, b1]) t.close();
  });

  it('drops forged or malformed ticks without relaying them or crashing, and relays a well-formed one', async () => {
    const a = uniqueUser('forged');
    const tab = await stack.tab(a);
    const seen = ticksOf(tab);
    await until('a real tick', () => seen.length >= 1);
    const subject = `stream.console.${a}.tick`;
    const at = new Date().toISOString();
    const from = stack.gateway.lines.length;
    stack.observer.publish(subject, 'not json');
    stack.observer.publish(subject, JSON.stringify({ userId: 'someone-else', n: 1, at, workerId: 'w' }));
    stack.observer.publish(subject, JSON.stringify({ userId: a, n: -3, at, workerId: 'w' }));
    stack.observer.publish(subject, JSON.stringify({ userId: a, n: 999_999, at, workerId: 'nats-cli' }));
    await until('the well-formed tick relayed', () => seen.find((t) => t.n === 999_999));
    await stack.gateway.waitForLine(/dropped invalid message on stream\.console\./, 5000, from);
    expect(stack.gateway.grep(/dropped invalid message on stream\.console\./).length).toBeGreaterThanOrEqual(3);
    expect(seen.filter((t) => t.userId !== a || t.n < 1)).toEqual([]);
    expect(stack.gateway.alive).toBe(true);
    // Real ticks go on after the garbage.
    const before = seen.filter((t) => t.workerId !== 'nats-cli').length;
    await until('more real ticks', () => seen.filter((t) => t.workerId !== 'nats-cli').length >= before + 2);
    tab.close();
  });

  it("a tab that comes back (last one closed, back within the timeout) gets the ticks again, the count going on", async () => {
    const a = uniqueUser('again');
    const first = await stack.tab(a);
    const seenFirst = ticksOf(first);
    await until('ticks', () => seenFirst.length >= 2);
    first.close();
    const back = await stack.tab(a);
    const seenBack = ticksOf(back);
    await until('ticks after coming back', () => seenBack.length >= 2);
    // The manager never stopped (back within the cleanup timeout): the count goes on.
    expect(seenBack[0].n).toBeGreaterThan(seenFirst.at(-1)!.n);
    expect(stack.observer.on(`stream.manager.${a}.stopped`)).toHaveLength(0);
    back.close();
  });

  it('only to tabs that asked (presence:console), until they say {on: false}; a bad payload is refused and changes nothing', async () => {
    const a = uniqueUser('opt-in');
    const [asked, quiet] = [await stack.tab(a), await stack.tab(a)];
    const seenAsked = received(asked);
    const seenQuiet = received(quiet);
    expect(await asked.socket.emitWithAck('presence:console', { on: 'yes' })).toEqual({ error: 'bad_request', message: expect.any(String) });
    expect(await asked.socket.emitWithAck('presence:console', { on: true })).toEqual({ ok: true });
    await until('ticks on the tab that asked', () => seenAsked.length >= 3);
    expect(seenQuiet).toEqual([]);

    expect(await asked.socket.emitWithAck('presence:console', { on: false })).toEqual({ ok: true });
    const stoppedAt = seenAsked.length;
    // The quiet tab now asks: once it has two ticks, the tab that said stop has had its chance to get them too.
    const seenLater = ticksOf(quiet);
    await until('ticks on the tab that asked later', () => seenLater.length >= 2);
    // A tick relayed before the leave arrived before the ack, so it is counted in stoppedAt already.
    expect(seenAsked).toHaveLength(stoppedAt);
    asked.close();
    quiet.close();
  });
});
