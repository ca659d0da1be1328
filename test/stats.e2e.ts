import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createRedis, redisKeys, type RedisClient } from '#libs/redis/index.js';
import type { PresenceMap, PresenceStats, SessionStatus } from '#libs/contracts/index.js';
import { Stack, Tab, until } from './support/harness.js';
import { flushAll } from './support/redis-cluster.js';

jest.setTimeout(120_000);

const CLEANUP_MS = 800;
const USERS = Array.from({ length: 20 }, (_, i) => `churn-${process.pid}-${i}`);
const MAX_TABS = 3;
const STATUSES: SessionStatus[] = ['visible', 'hidden', 'idle'];

const stack = new Stack({
  // One test client opens every tab from one address: lift the gateway's per-address handshake limit.
  env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), CONSOLE_LOGGER_INTERVAL_MS: '2000', LOG_LEVEL: 'info', HANDSHAKE_RATE: '100000', HANDSHAKE_BURST: '100000' },
});
let redis: RedisClient;
beforeAll(async () => {
  await stack.start();
  redis = createRedis(stack.backends.redisUrl, 'e2e');
});
afterAll(async () => {
  for (const t of open.keys()) t.close();
  redis?.disconnect();
  await stack.stop();
});

/** What the test itself knows is open: every tab and its status. */
const open = new Map<Tab, { user: string; status: SessionStatus }>();

let seed = Number(process.env.STATS_SEED ?? 20261121);
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const tabsOf = (user: string) => [...open].filter(([, v]) => v.user === user).map(([t]) => t);

async function openTab(user: string) {
  const tab = await stack.tab(user);
  open.set(tab, { user, status: 'visible' });
}
function closeTab(tab: Tab) {
  open.delete(tab);
  tab.close();
}

/** Joins, leaves, status changes and returns within the grace, in random order. */
async function churn(ops: number) {
  for (let i = 0; i < ops; i++) {
    const user = USERS[rnd(USERS.length)];
    const mine = tabsOf(user);
    const op = rnd(10);
    if (op < 4 && mine.length < MAX_TABS) {
      await openTab(user);
    } else if (op < 6 && mine.length > 0) {
      closeTab(mine[rnd(mine.length)]);
    } else if (op < 9 && mine.length > 0) {
      const tab = mine[rnd(mine.length)];
      const status = STATUSES[rnd(3)];
      open.get(tab)!.status = status;
      tab.socket.emit('presence:status', { status });
    } else if (mine.length === 1) {
      // The last tab closes and the user comes back within the grace (a reload).
      closeTab(mine[0]);
      await openTab(user);
    }
  }
}

function expected() {
  const byStatus = { visible: 0, hidden: 0, idle: 0 };
  for (const { status } of open.values()) byStatus[status]++;
  return { users: new Set([...open.values()].map((v) => v.user)).size, sessions: open.size, byStatus };
}

/** The same numbers, counted the slow way from full listings. */
async function listing(): Promise<PresenceStats> {
  const { users } = await stack.observer.request<{ users: PresenceMap }>('presence.query.users');
  const metas = Object.values(users).flatMap((u) => u.metas);
  const byStatus = { visible: 0, hidden: 0, idle: 0 };
  for (const m of metas) byStatus[m.status]++;
  const { managers } = await stack.observer.request<{ managers: unknown[] }>('stream.query.managers');
  const cleanups = await Promise.all(
    USERS.map((userId) => stack.observer.request<{ cleanupAt: string | null }>('presence.query.user', { userId })),
  );
  return {
    users: Object.values(users).filter((u) => u.metas.length > 0).length,
    sessions: metas.length,
    byStatus,
    pendingCleanups: cleanups.filter((c) => c.cleanupAt !== null).length,
    managers: managers.length,
  };
}

async function metrics(): Promise<PresenceStats> {
  const text = await (await fetch(`${stack.presence.url}/metrics`)).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name} missing from /metrics`);
    return Number(m[1]);
  };
  return {
    users: value('presence_users_online'),
    sessions: value('presence_sessions'),
    byStatus: Object.fromEntries(STATUSES.map((s) => [s, value(`presence_sessions_by_status{status="${s}"}`)])) as PresenceStats['byStatus'],
    pendingCleanups: value('presence_cleanups_pending'),
    managers: value('presence_managers'),
  };
}

const stats = () => stack.observer.request<PresenceStats>('presence.query.stats');

/**
 * Waits until the O(1) stats, the full listing and /metrics say the same at one quiet moment (stats
 * unchanged across the listing), and sessions match what the test holds open. A counter that
 * drifted never agrees, and the wait fails.
 */
async function expectExact(what: string) {
  let last: unknown;
  await until(`${what}: stats == listing == metrics == the open tabs`, async () => {
    const before = await stats();
    const full = await listing();
    const scraped = await metrics();
    const after = await stats();
    last = { before, full, scraped, after, expected: expected() };
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const e = expected();
    return same(before, after) && same(before, full) && same(before, scraped) && before.users === e.users && before.sessions === e.sessions && same(before.byStatus, e.byStatus);
  }, 30_000, 200).catch(async (err: Error) => {
    throw new Error(`${err.message}\nlast seen: ${JSON.stringify(last)}\n${await whoDiffers()}`);
  });
  return stats();
}

/** For a failure message: the users whose sessions differ, with their events and presence's log. */
async function whoDiffers(): Promise<string> {
  const { users } = await stack.observer.request<{ users: PresenceMap }>('presence.query.users');
  const out: string[] = [];
  for (const u of USERS) {
    const mine = tabsOf(u).map((t) => open.get(t)!.status).sort();
    const theirs = (users[u]?.metas ?? []).map((m) => m.status).sort();
    if (JSON.stringify(mine) === JSON.stringify(theirs)) continue;
    out.push(`${u}: tabs ${JSON.stringify(mine)}, presence ${JSON.stringify(theirs)}`);
    for (const e of stack.observer.seen.filter((x) => x.subject.includes(`.${u}.`))) out.push(`  ${e.receivedAt} ${e.subject} ${JSON.stringify(e.data)}`);
    for (const l of stack.presences.flatMap((p) => p.grep(new RegExp(u)))) out.push(`  presence: ${l}`);
  }
  return out.join('\n');
}

/** Once every grace has run out: nothing pending, one manager per present user. */
async function expectSettled(what: string) {
  await until(`${what}: cleanups done, a manager per present user`, async () => {
    const s = await stats();
    return s.pendingCleanups === 0 && s.managers === expected().users && s.users === expected().users;
  }, 30_000, 200);
  return expectExact(`${what} (settled)`);
}

describe('stats: O(1) counters equal the full listing', () => {
  it('through randomized churn', async () => {
    await churn(300);
    await expectExact('after churn');
    await expectSettled('after churn');
  });

  it('through a kill -9 of presence mid-churn and its restart', async () => {
    const running = churn(150);
    await until('some churn done', () => open.size > 0);
    await stack.presence.kill('SIGKILL');
    await churn(100);
    await running;
    await stack.presence.start();
    await churn(50);
    await expectExact('after presence kill -9');
    await expectSettled('after presence kill -9');
  });

  it('through a resync requested by a lost marker (nothing changes)', async () => {
    await churn(50);
    // Settled first: a cleanup running during the resync would change the numbers legitimately.
    const before = await expectSettled('before the resync');
    const resyncs = () => stack.gateway.grep(/resync requested/).length;
    const n = resyncs();
    // One bucket's marker: on a Cluster, the shard holding it lost its data.
    await redis.del(redisKeys('pl').marker(3));
    await until('the gateway re-announced its sessions', () => resyncs() > n);
    await expectExact('after the resync');
    expect(await stats()).toEqual(before);
  });

  it('through a FLUSHDB of Redis (of every primary, on a Cluster) mid-churn (state rebuilt from the gateways)', async () => {
    const resyncs = () => stack.gateway.grep(/resync requested/).length;
    const n = resyncs();
    const running = churn(150);
    await until('some churn done', () => open.size > 0);
    await flushAll(redis);
    await running;
    await until('the gateway re-announced its sessions', () => resyncs() > n);
    await churn(50);
    await expectExact('after FLUSHDB');
    await expectSettled('after FLUSHDB');
  });
});
