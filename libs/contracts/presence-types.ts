/*
 * The shapes a dashboard client sees, as plain types with no runtime import: the client SDK and the
 * dashboard page compile them in without zod. schemas.ts validates the same shapes with zod and
 * checks at compile time that its schemas infer exactly these types, so the two cannot drift.
 */

export const SESSION_STATUSES = ['visible', 'hidden', 'idle'] as const;
/** A tab's status: in front (`visible`), in the background (`hidden`), or without input a while (`idle`). */
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** One session as the presence state and `presence_state` show it (Phoenix's "meta"). */
export interface SessionMeta {
  sessionId: string;
  /** The dashboard page of the session, a path under /dashboard. */
  page: string;
  joinedAt: string;
  gatewayId: string;
  status: SessionStatus;
  /** When the status last changed (the join, or the latest presence:status). */
  statusAt?: string;
  /** Phoenix's version tag of this meta (phxRef in presence-diff.ts): a status change makes a new one. */
  phx_ref?: string;
  /** In a diff's join that updates a meta: the ref of the version it replaces. */
  phx_ref_prev?: string;
}

/** Phoenix's presence map: user id -> that user's metas, one per session. */
export type PresenceMap = Record<string, { metas: SessionMeta[] }>;

export const MANAGER_STATES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type ManagerState = (typeof MANAGER_STATES)[number];
/** The `manager` socket event: the user's stream manager as the gateway knows it. */
export interface ManagerStateEvent {
  userId: string;
  state: ManagerState;
  workerId?: string;
  /** While `stopping`: when the cleanup runs (ISO-8601). */
  cleanupAt?: string;
}
