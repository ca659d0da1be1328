import { metaOfJoin, type MetaPatch, type PresenceDiff, type SessionJoined, type SessionLeft, type SessionMeta, type SessionUpdated } from '#libs/contracts/index.js';

/**
 * Folds the session events of one feed window into one presence_diff. Keyed by session, so a
 * user's leave and join in one window stay two metas (never "the user left"), and a status change
 * is an update of that meta, never a leave plus a join (phoenix#1639).
 */
export class DiffCoalescer {
  private joins = new Map<string, SessionMeta & { userId: string }>();
  private leaves = new Map<string, { userId: string; sessionId: string }>();
  private updates = new Map<string, MetaPatch & { userId: string }>();

  joined(e: SessionJoined) {
    // A join of a session that left in this window is stale: the session is gone.
    if (this.leaves.has(e.sessionId)) return;
    this.updates.delete(e.sessionId);
    this.joins.set(e.sessionId, { userId: e.userId, ...metaOfJoin(e) });
  }

  left(e: Pick<SessionLeft, 'userId' | 'sessionId'>) {
    this.joins.delete(e.sessionId);
    this.updates.delete(e.sessionId);
    // Sent even when its join is in this same window: a subscriber may hold the session already
    // (from presence_state, or from a gateway's re-announce), and a leave of an unknown meta is a no-op.
    this.leaves.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId });
  }

  updated(e: Pick<SessionUpdated, 'userId' | 'sessionId' | 'status'> & { at?: string }) {
    if (this.leaves.has(e.sessionId)) return;
    const patch = e.at ? { status: e.status, statusAt: e.at } : { status: e.status };
    const pending = this.joins.get(e.sessionId);
    if (pending) {
      Object.assign(pending, patch);
      return;
    }
    this.updates.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId, ...patch });
  }

  get empty() {
    return this.joins.size === 0 && this.leaves.size === 0 && this.updates.size === 0;
  }

  /** The window's diff, and a fresh window. */
  take(): PresenceDiff & { updates: NonNullable<PresenceDiff['updates']> } {
    const diff: PresenceDiff & { updates: NonNullable<PresenceDiff['updates']> } = { joins: {}, leaves: {}, updates: {} };
    for (const { userId, ...meta } of this.joins.values()) (diff.joins[userId] ??= { metas: [] }).metas.push(meta);
    for (const { userId, sessionId } of this.leaves.values()) (diff.leaves[userId] ??= { metas: [] }).metas.push({ sessionId });
    for (const { userId, ...patch } of this.updates.values()) (diff.updates[userId] ??= { metas: [] }).metas.push(patch);
    this.joins = new Map();
    this.leaves = new Map();
    this.updates = new Map();
    return diff;
  }
}
