import { home } from './rendezvous.js';

export interface Move {
  userId: string;
  to: string;
}

/**
 * The moves this worker makes now to even out the managers across live workers: while it runs
 * more than the mean and at least two more than the least loaded worker, one manager goes to that
 * worker, preferring users whose rendezvous home it is (so free-user placement and balance agree).
 * At most `budget` moves; each counts at once in `loads`, so one pass never overshoots on its own.
 * Peers' loads are a moment old: several workers giving to the same one overshoot by a few at
 * most, and the next pass, theirs or its own, evens that out.
 */
export function planMoves(self: string, mine: readonly string[], loads: Map<string, number>, budget: number): Move[] {
  const workers = [...loads.keys()];
  if (budget <= 0 || workers.length < 2 || !loads.has(self)) return [];
  const local = new Map(loads);
  local.set(self, mine.length);
  const total = [...local.values()].reduce((a, b) => a + b, 0);
  const mean = total / workers.length;
  const left = new Set(mine);
  const moves: Move[] = [];
  while (moves.length < budget) {
    const myLoad = local.get(self)!;
    const [target, targetLoad] = [...local].filter(([w]) => w !== self).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!(myLoad > mean && myLoad - targetLoad >= 2)) break;
    let pick: string | undefined;
    for (const u of left) {
      if (home(u, workers) === target) {
        pick = u;
        break;
      }
    }
    pick ??= left.values().next().value;
    if (pick === undefined) break;
    left.delete(pick);
    moves.push({ userId: pick, to: target });
    local.set(self, myLoad - 1);
    local.set(target, targetLoad + 1);
  }
  return moves;
}
