import { describe, expect, it } from '@jest/globals';
import { Fifo } from './fifo.js';

describe('Fifo', () => {
  it('answers items oldest first, and undefined once empty', () => {
    const q = new Fifo<number>();
    for (const n of [1, 2, 3]) q.push(n);
    expect([q.take(), q.take()]).toEqual([1, 2]);
    q.push(4);
    expect(q.size).toBe(2);
    expect([q.take(), q.take(), q.take()]).toEqual([3, 4, undefined]);
    expect(q.size).toBe(0);
  });

  it('keeps its order across the compaction of taken slots', () => {
    const q = new Fifo<number>();
    for (let n = 0; n < 5000; n++) q.push(n);
    const taken: number[] = [];
    for (let n = 0; n < 3000; n++) taken.push(q.take() ?? -1);
    for (let n = 5000; n < 6000; n++) q.push(n);
    expect(q.size).toBe(3000);
    while (q.size > 0) taken.push(q.take() ?? -1);
    expect(taken).toEqual(Array.from({ length: 6000 }, (_, n) => n));
  });

  it('pushFront puts items ahead of what waits, in their order; drain empties it in order', () => {
    const q = new Fifo<string>();
    q.push('a');
    q.push('b');
    q.push('c');
    q.take();
    q.pushFront(new Set(['x', 'y']));
    expect(q.drain()).toEqual(['x', 'y', 'b', 'c']);
    expect(q.size).toBe(0);
    expect(q.take()).toBeUndefined();
  });
});
