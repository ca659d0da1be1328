import type { PresenceMap, SessionJoined, SessionMeta, SessionStatus } from './schemas.js';

/**
 * A session's meta from its join. Its status is the join's own unless a later one is known (the
 * gateway's current status of its own session; presence's canonical form of the time).
 */
export function metaOfJoin(e: SessionJoined, status: SessionStatus = e.status ?? 'visible', statusAt: string = e.at): SessionMeta {
  return { sessionId: e.sessionId, page: e.page, joinedAt: e.at, gatewayId: e.gatewayId, status, statusAt };
}

/** A meta as a diff carries it: a leave names only the session; an update only what changed. */
export type MetaPatch = Partial<SessionMeta> & { sessionId: string };

/** `presence_diff`: Phoenix's {joins, leaves} plus `updates`, metas changed in place (tab status). */
export interface PresenceDiff {
  joins: PresenceMap;
  leaves: Record<string, { metas: MetaPatch[] }>;
  updates?: Record<string, { metas: MetaPatch[] }>;
}

/**
 * A client's view of presence_state + presence_diff, applied the Phoenix way: metas are keyed by
 * sessionId, never by user, so a diff that holds one session's leave and another session's join of
 * the same user keeps the user with the right metas (supabase-js#2566 dropped or doubled them).
 * Order inside a diff: joins, then leaves, then updates; each step is idempotent, so a diff that
 * crosses the snapshot (or repeats a join) changes nothing twice.
 */
export function applyDiff(state: PresenceMap, diff: PresenceDiff): PresenceMap {
  const next: PresenceMap = {};
  for (const [u, { metas }] of Object.entries(state)) next[u] = { metas: metas.map((m) => ({ ...m })) };
  for (const [u, { metas }] of Object.entries(diff.joins ?? {})) {
    const entry = (next[u] ??= { metas: [] });
    for (const meta of metas) {
      const i = entry.metas.findIndex((m) => m.sessionId === meta.sessionId);
      if (i >= 0) entry.metas[i] = { ...meta };
      else entry.metas.push({ ...meta });
    }
  }
  for (const [u, { metas }] of Object.entries(diff.leaves ?? {})) {
    const entry = next[u];
    if (!entry) continue;
    const gone = new Set(metas.map((m) => m.sessionId));
    entry.metas = entry.metas.filter((m) => !gone.has(m.sessionId));
    if (entry.metas.length === 0) delete next[u];
  }
  for (const [u, { metas }] of Object.entries(diff.updates ?? {})) {
    const entry = next[u];
    if (!entry) continue;
    for (const patch of metas) {
      const i = entry.metas.findIndex((m) => m.sessionId === patch.sessionId);
      if (i >= 0) entry.metas[i] = { ...entry.metas[i], ...patch };
    }
  }
  return next;
}

/**
 * Phoenix's client-side sync: diffs that arrive before the first presence_state are kept and
 * applied after it, so a leave that raced the snapshot is not lost.
 */
export class PresenceList {
  private state: PresenceMap | null = null;
  private pending: PresenceDiff[] = [];

  onState(state: PresenceMap) {
    this.state = applyDiffs(state, this.pending);
    this.pending = [];
  }

  onDiff(diff: PresenceDiff) {
    if (this.state === null) this.pending.push(diff);
    else this.state = applyDiff(this.state, diff);
  }

  get synced() {
    return this.state !== null;
  }

  list(): PresenceMap {
    return this.state ?? {};
  }
}

function applyDiffs(state: PresenceMap, diffs: PresenceDiff[]): PresenceMap {
  return diffs.reduce(applyDiff, state);
}
