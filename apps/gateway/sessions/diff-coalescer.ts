import { metaOfJoin, withRef, type MetaPatch, type PresenceMap, type SessionJoined, type SessionLeft, type SessionMeta, type SessionUpdated } from '#libs/contracts/index.js';

type Keyed<T> = T & { userId: string };
/** The diff a window yields: every part present, so a caller need not check. */
export interface WindowDiff {
  joins: PresenceMap;
  leaves: Record<string, { metas: MetaPatch[] }>;
  updates: Record<string, { metas: MetaPatch[] }>;
}

/**
 * Folds the session events of one feed window into one presence_diff, in Phoenix's protocol: metas
 * carry their `phx_ref`; a leave carries the leaving meta; a status change is the leave of the old
 * meta and the join of the new one (phx_ref_prev naming the old), plus the project's `updates`
 * patch. Keyed by session, so a user's leave and join in one window stay two metas (never "the user
 * left"). A leave of a version the client never held is a no-op there, so versions that may have
 * reached a client through a snapshot crossing the window are left too.
 */
export class DiffCoalescer {
  private joins = new Map<string, Keyed<SessionMeta>>();
  /** By phx_ref (by session when the version is not known): every version that went away. */
  private leaves = new Map<string, Keyed<MetaPatch>>();
  private updates = new Map<string, Keyed<MetaPatch>>();
  private gone = new Set<string>();

  joined(e: SessionJoined) {
    // A join of a session that left in this window is stale: the session is gone.
    if (this.gone.has(e.sessionId)) return;
    this.updates.delete(e.sessionId);
    const meta = withRef(metaOfJoin(e));
    const pending = this.joins.get(e.sessionId);
    if (pending && pending.phx_ref !== meta.phx_ref) this.leave(pending);
    this.joins.set(e.sessionId, { userId: e.userId, ...meta });
  }

  left(e: Pick<SessionLeft, 'userId' | 'sessionId' | 'meta'>) {
    const pending = this.joins.get(e.sessionId);
    this.joins.delete(e.sessionId);
    this.updates.delete(e.sessionId);
    this.gone.add(e.sessionId);
    // Sent even when its join is in this same window: a subscriber may hold the session already
    // (from presence_state, or from a gateway's re-announce).
    if (pending) this.leave(pending);
    if (e.meta) this.leave({ userId: e.userId, ...withRef(e.meta) });
    else if (!pending) this.leaves.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId });
  }

  updated(e: Pick<SessionUpdated, 'userId' | 'sessionId' | 'status' | 'meta' | 'prev'> & { at?: string }) {
    if (this.gone.has(e.sessionId)) return;
    const pending = this.joins.get(e.sessionId);
    const base = pending ?? (e.meta ? { userId: e.userId, ...e.meta } : undefined);
    if (!base) {
      // A publisher that did not say what the meta is: only the project's patch can be sent.
      this.updates.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId, status: e.status, ...(e.at ? { statusAt: e.at } : {}) });
      return;
    }
    const old: Keyed<SessionMeta> = pending ?? { userId: e.userId, ...withRef({ ...base, ...(e.prev ?? {}) }) };
    if (e.prev || pending) this.leave(old);
    const next = withRef({ ...base, status: e.status, statusAt: e.at ?? base.statusAt });
    this.joins.set(e.sessionId, { ...next, userId: e.userId, phx_ref_prev: pending?.phx_ref_prev ?? old.phx_ref });
    if (!pending) this.updates.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId, status: next.status, statusAt: next.statusAt, phx_ref: next.phx_ref });
    else if (this.updates.has(e.sessionId)) this.updates.set(e.sessionId, { ...this.updates.get(e.sessionId)!, status: next.status, statusAt: next.statusAt, phx_ref: next.phx_ref });
  }

  private leave(m: Keyed<MetaPatch>) {
    const { phx_ref_prev: _prev, ...meta } = m;
    this.leaves.set(meta.phx_ref ?? meta.sessionId, meta);
  }

  get empty() {
    return this.joins.size === 0 && this.leaves.size === 0 && this.updates.size === 0;
  }

  /** The window's diff, and a fresh window. */
  take(): WindowDiff {
    const diff: WindowDiff = { joins: {}, leaves: {}, updates: {} };
    for (const { userId, ...meta } of this.joins.values()) (diff.joins[userId] ??= { metas: [] }).metas.push(meta);
    for (const { userId, ...meta } of this.leaves.values()) (diff.leaves[userId] ??= { metas: [] }).metas.push(meta);
    for (const { userId, ...patch } of this.updates.values()) (diff.updates[userId] ??= { metas: [] }).metas.push(patch);
    this.joins = new Map();
    this.leaves = new Map();
    this.updates = new Map();
    this.gone = new Set();
    return diff;
  }
}
