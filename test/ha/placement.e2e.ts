import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type AppProcess, type Tab } from '../support/harness.js';
import { converged, convergenceBound, expectNeverTwoManagers, expectNoDuplicateManagers, fastEnv, managers, type FaultTimings } from '../support/faults.js';

jest.setTimeout(240_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 3000, WORKER_TTL_MS: 3000, CLEANUP_TIMEOUT_MS: 1500 };
const USERS = 30;

/**
 * Placement on purpose: managers spread evenly over the workers (within 20% of the mean), a new
 * worker takes its share gradually, a drained or killed worker's managers spread over the rest,
 * and every move is a clean handover: stopped `handover` on one worker, then started on another,
 * never both at once.
 */
describe('placement across stream workers', () => {
  const stack = new Stack({ workers: 3, env: fastEnv(T, { PLACEMENT_MOVES_PER_S: '5' }) });
  const users: string[] = [];
  const tabs: Tab[] = [];
  const killed = new Map<string, number>();
  beforeAll(async () => {
    await stack.start();
    for (let i = 0; i < USERS; i++) {
      const u = uniqueUser(`pl${i}`);
      users.push(u);
      tabs.push(await stack.tab(u));
    }
  });
  afterAll(async () => {
    for (const t of tabs) t.close();
    await stack.stop();
  });

  const live = () => stack.workers.filter((w) => w.alive);
  const perWorker = async () => {
    const counts = new Map<string, number>(live().map((w) => [w.env.INSTANCE_ID, 0]));
    for (const m of await managers(stack)) counts.set(m.workerId, (counts.get(m.workerId) ?? 0) + 1);
    return counts;
  };
  /** Every live worker runs within 20% of the mean, and all users have their manager. */
  const balanced = (what: string, timeoutMs = 30_000) => {
    let last = '';
    return until(`${what}: within 20% of the mean`, async () => {
      const counts = await perWorker().catch(() => null);
      if (!counts) return null;
      last = JSON.stringify([...counts]);
      const values = [...counts.values()];
      const mean = USERS / live().length;
      const total = values.reduce((a, b) => a + b, 0);
      return total === USERS && values.every((n) => Math.abs(n - mean) <= 0.2 * mean) ? counts : null;
    }, timeoutMs, 250).catch((err: Error) => {
      throw new Error(`${err.message}; last ${last}`);
    });
  };
  /** Each move said stopped (handover) before its user started elsewhere. */
  const cleanMoves = () => {
    for (const u of users) expectNeverTwoManagers(stack, u, killed);
  };

  it('spreads 30 users over 3 workers within 20% of the mean', async () => {
    await converged(stack, users, users, convergenceBound(T));
    const counts = await balanced('three workers');
    expect([...counts.values()].every((n) => n > 0)).toBe(true);
    cleanMoves();
  });

  it('a fourth worker takes its share, moved gradually, each a clean handover', async () => {
    const before = stack.observer.seen.length;
    const fourth = await stack.addApp('stream-workers');
    const counts = await balanced('four workers');
    expect(counts.get(fourth.env.INSTANCE_ID)).toBeGreaterThanOrEqual(6);
    const moves = stack.observer.seen.slice(before).filter((s) => /^stream\.manager\..*\.stopped$/.test(s.subject));
    expect(moves.length).toBeGreaterThan(0);
    expect(moves.every((m) => m.data.reason === 'handover')).toBe(true);
    // Every user moved was started again, on the new worker or another.
    for (const m of moves) {
      const u = String(m.data.userId);
      await stack.observer.waitFor(`stream.manager.${u}.started`, 10_000, stack.observer.on(`stream.manager.${u}.stopped`).length + 1);
    }
    await converged(stack, users, users, convergenceBound(T));
    cleanMoves();
    await expectNoDuplicateManagers(stack);
  });

  it('a drained worker s managers spread over the others', async () => {
    const counts = await perWorker();
    const [busiestId] = [...counts].sort((a, b) => b[1] - a[1])[0];
    const drained = stack.workers.find((w) => w.env.INSTANCE_ID === busiestId)!;
    const theirs = (await managers(stack)).filter((m) => m.workerId === busiestId).map((m) => m.userId);
    await drained.kill('SIGTERM');
    await converged(stack, users, users, convergenceBound(T));
    const now = await managers(stack);
    const landed = new Set(now.filter((m) => theirs.includes(m.userId)).map((m) => m.workerId));
    expect(landed.size).toBeGreaterThanOrEqual(2);
    await balanced('three workers after a drain');
    cleanMoves();
  });

  it('a killed worker s managers spread over the others', async () => {
    const victim: AppProcess = live()[0];
    const theirs = (await managers(stack)).filter((m) => m.workerId === victim.env.INSTANCE_ID).map((m) => m.userId);
    await victim.kill('SIGKILL');
    killed.set(victim.env.INSTANCE_ID, Date.now());
    await converged(stack, users, users, convergenceBound(T));
    const landed = new Set((await managers(stack)).filter((m) => theirs.includes(m.userId)).map((m) => m.workerId));
    expect(landed.size).toBe(2);
    await balanced('two workers after a kill');
    cleanMoves();
    await expectNoDuplicateManagers(stack);
  });
});
