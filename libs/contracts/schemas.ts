import { z } from 'zod';
import { USER_ID_RE } from './subjects.js';
import { SESSION_STATUSES, type SessionMeta as SessionMetaShape, type SessionStatus as SessionStatusShape } from './presence-types.js';

export { MANAGER_STATES, SESSION_STATUSES, type ManagerState, type ManagerStateEvent, type PresenceMap } from './presence-types.js';

/** Compiles only when A and B are the same type: a schema that infers something else than its declared shape fails the build. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;

/**
 * Payload schemas of every message the apps exchange. Producers build payloads with these types,
 * consumers validate with these schemas: a message that fails is logged and dropped.
 */

export const UserId = z.string().regex(USER_ID_RE, 'a user id matching ^[A-Za-z0-9_-]{1,64}$');
export const IsoTime = z.iso.datetime({ offset: true });
export const Id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, 'an id of letters, digits and _.:-');

export const SessionStatus = z.enum(SESSION_STATUSES);
export type SessionStatus = SessionStatusShape;
const _status: Same<z.infer<typeof SessionStatus>, SessionStatus> = true;

export const LEAVE_REASONS = ['closed', 'lost', 'logout', 'gateway_down', 'expired'] as const;
export const LeaveReason = z.enum(LEAVE_REASONS);
export type LeaveReason = z.infer<typeof LeaveReason>;

export const DashboardPage = z
  .string()
  .max(512)
  .regex(/^\/dashboard(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$/, 'a path under /dashboard')
  .refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..' || /%2e/i.test(seg)), 'a path under /dashboard without . or .. segments');

export const SessionJoined = z.object({
  sessionId: Id,
  userId: UserId,
  gatewayId: Id,
  page: DashboardPage,
  at: IsoTime,
  status: SessionStatus.optional(),
  /** When `status` was set, when it is not the join's own (a join announced again after status changes). */
  statusAt: IsoTime.optional(),
});
export type SessionJoined = z.infer<typeof SessionJoined>;

/** One session as the presence state and `presence_state` show it (Phoenix's "meta"). */
export const SessionMeta = z.object({
  sessionId: Id,
  page: DashboardPage,
  joinedAt: IsoTime,
  gatewayId: Id,
  status: SessionStatus,
  /** When the status last changed (the join, or the latest presence:status). */
  statusAt: IsoTime.optional(),
  /** Phoenix's version tag of this meta (phxRef in presence-diff.ts): a status change makes a new one. */
  phx_ref: z.string().max(200).optional(),
  /** In a diff's join that updates a meta: the ref of the version it replaces. */
  phx_ref_prev: z.string().max(200).optional(),
});
export type SessionMeta = SessionMetaShape;
const _meta: Same<z.infer<typeof SessionMeta>, SessionMeta> = true;

/**
 * `meta` and `prev` (optional additions): the session's whole meta after the change and the status
 * it replaces, so that any gateway can send Phoenix's leave of the old meta and join of the new.
 */
export const SessionUpdated = z.object({
  sessionId: Id,
  userId: UserId,
  status: SessionStatus,
  at: IsoTime,
  meta: SessionMeta.optional(),
  prev: z.object({ status: SessionStatus, statusAt: IsoTime }).optional(),
});
export type SessionUpdated = z.infer<typeof SessionUpdated>;

/** `meta` (optional addition): the leaving meta, as Phoenix's leaves carry it. */
export const SessionLeft = z.object({
  sessionId: Id,
  userId: UserId,
  gatewayId: Id,
  reason: LeaveReason,
  at: IsoTime,
  meta: SessionMeta.optional(),
});
export type SessionLeft = z.infer<typeof SessionLeft>;

/**
 * The user's presence epoch after the transition an event reports (an optional addition to every
 * presence.user and presence.cleanup event): it grows with every transition of the user, so a
 * reader keeps the newest word whatever order events and query answers reach it in.
 */
export const Epoch = z.number().int().nonnegative();

/** `sessionId`/`joinedAt` (optional additions): the first session, and when it joined at its gateway. */
export const UserOnline = z.object({ userId: UserId, at: IsoTime, sessionId: Id.optional(), joinedAt: IsoTime.optional(), epoch: Epoch.optional() });
export type UserOnline = z.infer<typeof UserOnline>;
/** Why a user went offline: the reason of their last leave, or `admin` (an operator ended it). */
export const OFFLINE_REASONS = [...LEAVE_REASONS, 'admin'] as const;
export type OfflineReason = (typeof OFFLINE_REASONS)[number];
export const UserOffline = z.object({ userId: UserId, at: IsoTime, reason: z.string().max(64).optional(), epoch: Epoch.optional() });
export type UserOffline = z.infer<typeof UserOffline>;

export const CleanupScheduled = z.object({ userId: UserId, runAt: IsoTime, at: IsoTime, reason: LeaveReason.optional(), epoch: Epoch.optional() });
export type CleanupScheduled = z.infer<typeof CleanupScheduled>;
export const CleanupCancelled = z.object({ userId: UserId, at: IsoTime, epoch: Epoch.optional() });
export type CleanupCancelled = z.infer<typeof CleanupCancelled>;

/** The lease's generation (fencing token): a newer holder's is larger, so a stale holder's word can be told apart. */
export const Generation = z.number().int().nonnegative();
export const ManagerStarted = z.object({ userId: UserId, workerId: Id, at: IsoTime, generation: Generation.optional() });
export type ManagerStarted = z.infer<typeof ManagerStarted>;
export const STOP_REASONS = ['offline', 'reconcile', 'handover', 'lease_lost', 'admin'] as const;
/** `cause` (optional addition): for a stop on an offline event, that event's reason (closed, gateway_down, admin...). */
export const ManagerStopped = z.object({
  userId: UserId,
  workerId: Id,
  reason: z.string().max(64),
  at: IsoTime,
  cause: z.string().max(64).optional(),
  generation: Generation.optional(),
});
export type ManagerStopped = z.infer<typeof ManagerStopped>;

/** One ConsoleLogger tick, relayed by the gateway to the user's own sockets as `console_log`. */
export const ConsoleTick = z.object({ userId: UserId, n: z.number().int().positive(), at: IsoTime, workerId: Id, generation: Generation.optional() });
export type ConsoleTick = z.infer<typeof ConsoleTick>;


/**
 * A gateway's liveness. `bootId` names this incarnation of the process: a gateway restarted under
 * the same INSTANCE_ID holds none of its earlier incarnation's sessions. `sessions`: how many it
 * holds; `digest`: of their ids (session-digest.ts), so that a lost join plus a lost leave, which
 * keep the count, still disagree with the state. Optional: an earlier gateway sends none.
 */
export const GatewayHeartbeat = z.object({
  gatewayId: Id,
  sessions: z.number().int().nonnegative(),
  at: IsoTime,
  bootId: Id.optional(),
  digest: z.number().int().min(0).max(0xffffffff).optional(),
});
export type GatewayHeartbeat = z.infer<typeof GatewayHeartbeat>;

/**
 * Presence to a gateway: the state will not hold this session. `too_many_sessions`: over the
 * user's cap across gateways, end it. `gone`: the state already ended it (a tombstone; e.g. the
 * gateway was cut off from NATS past GATEWAY_TTL_MS) while the gateway may still hold its socket:
 * the gateway carries the socket on under a new session id. `blocked`: an operator ended the user's
 * sessions a moment ago and keeps them out for a while (END_SESSIONS_BLOCK_MS): end it.
 */
export const SessionRefusalReason = z.enum(['too_many_sessions', 'gone', 'blocked']);
export const SessionRefused = z.object({ sessionId: Id, userId: UserId, gatewayId: Id, reason: SessionRefusalReason, at: IsoTime });
export type SessionRefused = z.infer<typeof SessionRefused>;

/**
 * Presence to every gateway: announce your sessions again. `afterSeq`: the audit stream's last
 * sequence when presence's (empty) state began; joins stored after it reach that state through the
 * stream. Without it (presence reconnected to NATS), every session is announced.
 */
export const GatewayResync = z.object({ at: IsoTime.optional(), afterSeq: z.number().int().nonnegative().optional() });
export type GatewayResync = z.infer<typeof GatewayResync>;

/** A gateway's answer to a resync request: every live session it holds. */
export const GatewaySessions = z.object({
  gatewayId: Id,
  sessions: z.array(SessionJoined),
  /** When the list was taken (the gateway's clock): a session joined later may be missing from it. */
  asOf: IsoTime.optional(),
  /** One page of `pages` (see gateway-sessions.ts): a long list does not fit one NATS message. */
  page: z.number().int().min(0).optional(),
  pages: z.number().int().min(1).optional(),
});
export type GatewaySessions = z.infer<typeof GatewaySessions>;

export const UserQuery = z.object({ userId: UserId });

/** presence.query.debug: what PresenceHelper.debug() showed, from the presence state. */
export interface PresenceDebug {
  stats: PresenceStats;
  pendingCleanups: Array<{ userId: string; runAt: string; reason: string }>;
  gateways: Array<{ gatewayId: string; lastSeenAt: string; alive: boolean; sessions: number }>;
  workers: Array<{ workerId: string; lastSeenAt: string; alive: boolean }>;
}
/** `to`: the worker the users are moved to (a rebalancing move); absent, their rendezvous homes take them. */
export const WorkerHandover = z.object({ workerId: Id, userIds: z.array(UserId).max(100_000), at: IsoTime, to: Id.optional() });
export type WorkerHandover = z.infer<typeof WorkerHandover>;


export interface PresenceStats {
  users: number;
  sessions: number;
  byStatus: Record<SessionStatus, number>;
  pendingCleanups: number;
  managers: number;
}

export interface ComponentInfo {
  name: string;
  state: 'running' | 'restarting' | 'stopped' | 'failed';
  restarts: number;
  info?: Record<string, unknown>;
}
export interface ManagerInfo {
  userId: string;
  workerId: string;
  startedAt: string;
  generation?: number;
  components: ComponentInfo[];
}


/** Parses JSON bytes and validates them; returns a readable reason instead of throwing. */
export function parseMessage<T>(
  schema: z.ZodType<T>,
  data: Uint8Array | string,
): { ok: true; value: T } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    return { ok: false, error: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  }
  return { ok: true, value: result.data };
}

export const nowIso = (ms: number = Date.now()) => new Date(ms).toISOString();
