import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { bucketOf, redisKeys } from '../../libs/redis/keys.js';
import { Stack, uniqueUser, until, type AppProcess } from '../support/harness.js';
import { converged, convergenceBound, allHealthy, expectNoDuplicateManagers, expectOneManagerAtATime, fastEnv, health, heldUsers, restart, stats, statsMatchManagers, TabBook, type FaultTimings } from '../support/faults.js';

jest.setTimeout(180_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 3000, WORKER_TTL_MS: 3000, CLEANUP_TIMEOUT_MS: 1500 };
const BOUND = convergenceBound(T) + 5000;
const KEYS = redisKeys('pl');
/** What a script or MULTI touching several slots, or a client lost in the slot map, would log. */
const SLOT_ERRORS = /CROSSSLOT|MOVED|ASK |TRYAGAIN|CLUSTERDOWN|non local key|All keys in the pipeline/;

/**
 * The lifecycle on a Redis Cluster of three primaries (REDIS_URL redis-cluster://): users spread
 * over buckets held by different primaries, each user's transitions one script on one slot, the
 * readers of "all" summing the buckets, BullMQ on its hash-tagged prefix. Then a presence and a
 * worker kill -9, and one primary losing its data alone (its buckets' markers gone): the system
 * converges as on one server, and no app ever logs a cross-slot or redirection error.
 */
describe('on a Redis Cluster of three primaries', () => {
  const stack = new Stack({ backends: { redisCluster: true }, workers: 2, env: fastEnv(T) });
  const cluster = () => stack.backends.redisCluster!;
  const book = new TabBook(stack);
  const { tabs, users, open, close } = book;
  /** Killed apps too: their logs are checked at the end. */
  const killed: AppProcess[] = [];
  beforeAll(() => stack.start());
  afterAll(async () => {
    book.closeAll();
    await stack.stop();
  });

  /** The primaries holding these users' buckets. */
  const primariesOf = async (us: string[]) => new Set(await Promise.all(us.map((u) => cluster().portOf(KEYS.state(u)))));

  it('users spread over buckets on every primary: one manager each, stats summed right, health ok', async () => {
    // One user in each bucket, so that every primary holds some (a handful of random users can
    // all miss one primary).
    const byBucket = new Map<number, string>();
    for (let i = 0; byBucket.size < 16; i++) {
      const u = uniqueUser(`rc${i}`);
      if (!byBucket.has(bucketOf(u))) byBucket.set(bucketOf(u), u);
    }
    const crowd = [...byBucket.values()];
    for (const u of crowd) await open(u);
    await open(crowd[0]);
    expect(new Set(crowd.map(bucketOf)).size).toBeGreaterThan(3);
    expect((await primariesOf(crowd)).size).toBe(3);
    await converged(stack, users, heldUsers(tabs), BOUND);
    for (const u of crowd) expect(stack.observer.on(`stream.manager.${u}.started`)).toHaveLength(1);
    const s = await stats(stack);
    expect({ users: s.users, sessions: s.sessions }).toEqual({ users: crowd.length, sessions: crowd.length + 1 });
    expect(await statsMatchManagers(stack, BOUND)).toBe(crowd.length);
    for (const app of stack.apps) expect([app.app, (await health(app)).status]).toEqual([app.app, 200]);
  });

  it('last tab closed: stopped after CLEANUP_TIMEOUT_MS, not earlier; back before it: cancelled, no restart', async () => {
    const [leaver, returner] = [users[1], users[2]];
    const closedAt = Date.now();
    close(leaver);
    close(returner);
    await stack.observer.waitFor(`presence.cleanup.${returner}.scheduled`);
    await open(returner);
    await stack.observer.waitFor(`presence.cleanup.${returner}.cancelled`);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${leaver}.stopped`, BOUND);
    expect(stopped.receivedAt - closedAt).toBeGreaterThanOrEqual(T.CLEANUP_TIMEOUT_MS - 50);
    await converged(stack, users, heldUsers(tabs), BOUND);
    expect(stack.observer.on(`stream.manager.${returner}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${returner}.started`)).toHaveLength(1);
  });

  it('kill -9 of a presence replica and of a worker: converges, one manager per user', async () => {
    await stack.addApp('presence');
    const deadPresence = stack.presences[0];
    await deadPresence.kill('SIGKILL');
    killed.push(...stack.presences.splice(0, 1));
    close(users[3]);
    await open(uniqueUser('rc-after-presence-kill'));
    await converged(stack, users, heldUsers(tabs), BOUND);
    const deadWorker = stack.workers[0];
    await deadWorker.kill('SIGKILL');
    await open(uniqueUser('rc-after-worker-kill'));
    await converged(stack, users, heldUsers(tabs), BOUND);
    killed.push(...stack.workers.splice(0, 1));
    await restart(stack, deadWorker);
    await converged(stack, users, heldUsers(tabs), BOUND);
    await expectNoDuplicateManagers(stack);
  });

  it('one primary restarts empty: its buckets resync from the gateways, the others keep theirs, nothing lost', async () => {
    const victim = 0;
    const ports = await Promise.all(heldUsers(tabs).map(async (u) => [u, await cluster().portOf(KEYS.state(u))] as const));
    const onVictim = ports.filter(([, port]) => port === cluster().nodes[victim].port).map(([u]) => u);
    expect(onVictim.length).toBeGreaterThan(0);
    const from = stack.presence.lines.length;
    await cluster().killNode(victim);
    await cluster().startNode(victim);
    await cluster().ready();
    await stack.presence.waitForLine(/presence state is empty/, BOUND, from);
    await converged(stack, users, heldUsers(tabs), BOUND);
    await allHealthy(stack, BOUND);
    // The users of the lost buckets kept their manager (re-asserted, not restarted).
    for (const u of onVictim) expect([u, stack.observer.on(`stream.manager.${u}.stopped`).length]).toEqual([u, 0]);
    await open(uniqueUser('rc-after-loss'));
    await converged(stack, users, heldUsers(tabs), BOUND);
  });

  it('no app logged a cross-slot or redirection error; every manager ran alone', async () => {
    for (const app of [...stack.apps, ...killed]) expect([app.app, app.grep(SLOT_ERRORS)]).toEqual([app.app, []]);
    for (const u of users) expectOneManagerAtATime([...stack.workers, ...killed], u);
    await until('every app healthy', async () => (await Promise.all(stack.apps.map((a) => health(a)))).every((h) => h.status === 200), BOUND, 250);
  });
});
