import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Presence, type Channel } from 'phoenix';
import { QuerySubjects, type PresenceMap, type SessionMeta } from '#libs/contracts/index.js';
import { Stack, Tab, uniqueUser, until } from './support/harness.js';

jest.setTimeout(90_000);

/*
 * The contract's promise: Phoenix's own JS client, unchanged, fed with the gateway's presence_state
 * and presence_diff, holds the same users, metas and statuses as presence.query.users. Phoenix's
 * `Presence` class is driven as a Phoenix channel drives it: `joinRef()` changes on every (re)join,
 * so diffs that arrive before the new snapshot are held by Phoenix's own logic.
 */
const stack = new Stack({ gateways: 2 });
beforeAll(async () => {
  await stack.start();
  await stack.firstResync();
});
afterAll(() => stack.stop());

/** A dashboard tab that watches the feed through Phoenix's `Presence`. */
async function phoenixWatcher(user: string, gateway: number) {
  const tab = new Tab(stack, stack.gateways[gateway].url, { token: await stack.token(user), page: '/dashboard/phoenix' });
  let joins = 0;
  tab.socket.on('connect', () => {
    joins++;
    tab.socket.emit('presence:subscribe');
  });
  // The part of a Phoenix Channel that Presence uses: `on(event, callback)` and `joinRef()`.
  const channel = {
    on: (event: string, callback: (payload: unknown) => void) => {
      tab.socket.on(event, callback);
      return 0;
    },
    joinRef: () => String(joins),
  } as unknown as Channel;
  const presence = new Presence(channel);
  await tab.connected();
  return { tab, presence };
}

/** Users and their metas as one comparable string: keys sorted, metas by session; `phx_ref_prev` (a diff's remark, not state) left out. */
function normalize(users: PresenceMap): string {
  const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  const out: Record<string, object[]> = {};
  for (const [user, { metas }] of Object.entries(users).sort(([a], [b]) => a.localeCompare(b))) {
    if (metas.length === 0) continue;
    out[user] = metas.map(({ phx_ref_prev: _prev, ...m }) => sorted(m)).sort((a, b) => (a as SessionMeta).sessionId.localeCompare((b as SessionMeta).sessionId));
  }
  return JSON.stringify(out, null, 1);
}

function phoenixList(presence: Presence): PresenceMap {
  const map: PresenceMap = {};
  presence.list((key: string, p: { metas: SessionMeta[] }) => (map[key] = { metas: p.metas }));
  return JSON.parse(JSON.stringify(map)) as PresenceMap;
}

async function queryUsers(): Promise<PresenceMap> {
  return (await stack.observer.request<{ users: PresenceMap }>(QuerySubjects.users)).users;
}

/** Every watcher's Phoenix list converges to presence's own (and each meta carries a phx_ref). */
async function agree(watchers: Array<{ presence: Presence }>, what: string) {
  let last = '';
  try {
    await until(what, async () => {
      const truth = normalize(await queryUsers());
      const lists = watchers.map((w) => normalize(phoenixList(w.presence)));
      last = [truth, ...lists].join('\n');
      return lists.every((l) => l === truth);
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${last}`, { cause: err });
  }
  const truth = await queryUsers();
  for (const { metas } of Object.values(truth)) for (const m of metas) expect(m.phx_ref).toEqual(expect.any(String));
  return truth;
}

const status = (tab: Tab, s: 'visible' | 'hidden' | 'idle') => tab.socket.emitWithAck('presence:status', { status: s });

describe("Phoenix's JS Presence fed by real gateways", () => {
  it('holds what presence.query.users holds through joins, status changes, leaves and reconnects, on two gateways', async () => {
    const w1 = await phoenixWatcher(uniqueUser('phx-w1'), 0);
    const w2 = await phoenixWatcher(uniqueUser('phx-w2'), 1);
    const watchers = [w1, w2];
    await agree(watchers, 'the watchers see each other');

    // Joins: one user with three tabs on two gateways (Phoenix's client dropped all but one before phx_ref).
    const [alice, bob, carol] = [uniqueUser('alice'), uniqueUser('bob'), uniqueUser('carol')];
    const a1 = await stack.tab(alice);
    const a2 = await stack.tab(alice);
    const a3 = await stack.tab(alice, { gateway: stack.gateways[1] });
    const b1 = await stack.tab(bob, { gateway: stack.gateways[1] });
    let truth = await agree(watchers, 'joins');
    expect(truth[alice].metas).toHaveLength(3);

    // Status changes: each is a new version of the meta (leave of the old, join of the new).
    await status(a1, 'hidden');
    await status(a3, 'idle');
    await status(b1, 'hidden');
    await status(b1, 'visible');
    truth = await agree(watchers, 'status changes');
    expect(truth[alice].metas.map((m) => m.status).sort()).toEqual(['hidden', 'idle', 'visible']);

    // Leaves: one of several tabs, and a user's only tab.
    a2.close();
    b1.close();
    truth = await agree(watchers, 'leaves');
    expect(truth[alice].metas).toHaveLength(2);
    expect(truth[bob]).toBeUndefined();

    // A watcher reconnects while things change: Phoenix holds diffs until the new snapshot, then syncs.
    w1.tab.socket.disconnect();
    await status(a1, 'idle');
    const c1 = await stack.tab(carol, { gateway: stack.gateways[1] });
    a3.close();
    w1.tab.socket.connect();
    await w1.tab.connected();
    truth = await agree(watchers, 'a watcher reconnected');
    expect(truth[carol].metas).toHaveLength(1);

    // A watched tab reconnects: a new session replaces the old one.
    c1.socket.disconnect();
    c1.socket.connect();
    await c1.connected();
    await status(c1, 'hidden');
    await agree(watchers, 'a watched tab reconnected');
    a1.close();
    c1.close();
    await agree(watchers, 'everyone but the watchers left');
  });
});
