import { describe, expect, it } from '@jest/globals';
import { home } from './rendezvous.js';
import { planMoves } from './rebalance.js';

const users = (n: number, p = 'u') => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('rendezvous home', () => {
  it('is the same answer whatever the order of the workers', () => {
    for (const u of users(50)) expect(home(u, ['a', 'b', 'c'])).toBe(home(u, ['c', 'a', 'b']));
  });

  it('spreads many users roughly evenly', () => {
    const count = new Map<string, number>();
    for (const u of users(30_000)) count.set(home(u, ['w1', 'w2', 'w3'])!, (count.get(home(u, ['w1', 'w2', 'w3'])!) ?? 0) + 1);
    for (const n of count.values()) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('moves only the users of a worker that leaves, and spreads them over the rest', () => {
    const before = new Map(users(3000).map((u) => [u, home(u, ['w1', 'w2', 'w3', 'w4'])!]));
    const moved = new Map<string, number>();
    for (const [u, w] of before) {
      const after = home(u, ['w1', 'w2', 'w3'])!;
      if (w !== 'w4') expect(after).toBe(w);
      else moved.set(after, (moved.get(after) ?? 0) + 1);
    }
    for (const n of moved.values()) expect(n).toBeGreaterThan(150);
  });

  it('no workers: no home', () => {
    expect(home('u', [])).toBeUndefined();
  });
});

describe('planMoves', () => {
  it('gives a new worker its share from an overloaded one, no more than the budget at a time', () => {
    const mine = users(10);
    const loads = new Map([['w1', 10], ['w2', 10], ['w3', 10], ['w4', 0]]);
    expect(planMoves('w1', mine, loads, 1)).toHaveLength(1);
    const all = planMoves('w1', mine, loads, 100);
    expect(all.every((m) => m.to === 'w4')).toBe(true);
    // w1 gives until it is at the mean (7.5): 3 moves would take it to 7, under the mean.
    expect(all).toHaveLength(3);
  });

  it('does nothing when balanced, within one, or with the knob at 0', () => {
    expect(planMoves('w1', users(10), new Map([['w1', 10], ['w2', 10], ['w3', 10]]), 5)).toEqual([]);
    expect(planMoves('w1', users(8), new Map([['w1', 8], ['w2', 7], ['w3', 7], ['w4', 8]]), 5)).toEqual([]);
    expect(planMoves('w1', users(20), new Map([['w1', 20], ['w2', 0]]), 0)).toEqual([]);
    expect(planMoves('w1', users(3), new Map([['w1', 3]]), 5)).toEqual([]);
  });

  it('three workers giving to a fourth settle within 20% of the mean', () => {
    const held = new Map([['w1', users(10, 'a')], ['w2', users(10, 'b')], ['w3', users(10, 'c')], ['w4', [] as string[]]]);
    for (let round = 0; round < 10; round++) {
      const loads = new Map([...held].map(([w, us]) => [w, us.length]));
      for (const w of held.keys()) {
        for (const m of planMoves(w, held.get(w)!, loads, 2)) {
          held.set(w, held.get(w)!.filter((u) => u !== m.userId));
          held.get(m.to)!.push(m.userId);
        }
      }
    }
    const counts = [...held.values()].map((us) => us.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    for (const n of counts) expect(Math.abs(n - 7.5)).toBeLessThanOrEqual(1.5);
  });

  it('prefers users whose rendezvous home is the target', () => {
    const mine = users(40);
    const loads = new Map([['w1', 40], ['w2', 0]]);
    const [m] = planMoves('w1', mine, loads, 1);
    expect(home(m.userId, ['w1', 'w2'])).toBe('w2');
  });
});
