import { z } from 'zod';
import { USER_ID_RE } from './subjects.js';

/**
 * Payload schemas of every message the apps exchange. Producers build payloads with these types,
 * consumers validate with these schemas: a message that fails is logged and dropped.
 */

export const UserId = z.string().regex(USER_ID_RE, 'a user id matching ^[A-Za-z0-9_-]{1,64}$');
export const IsoTime = z.iso.datetime({ offset: true });
const Id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, 'an id of letters, digits and _.:-');

export const SESSION_STATUSES = ['visible', 'hidden', 'idle'] as const;
export const SessionStatus = z.enum(SESSION_STATUSES);
export type SessionStatus = z.infer<typeof SessionStatus>;

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
});
export type SessionJoined = z.infer<typeof SessionJoined>;

export const SessionUpdated = z.object({
  sessionId: Id,
  userId: UserId,
  status: SessionStatus,
  at: IsoTime,
});
export type SessionUpdated = z.infer<typeof SessionUpdated>;

export const SessionLeft = z.object({
  sessionId: Id,
  userId: UserId,
  gatewayId: Id,
  reason: LeaveReason,
  at: IsoTime,
});
export type SessionLeft = z.infer<typeof SessionLeft>;

export const UserOnline = z.object({ userId: UserId, at: IsoTime });
export type UserOnline = z.infer<typeof UserOnline>;
export const UserOffline = z.object({ userId: UserId, at: IsoTime, reason: z.string().max(64).optional() });
export type UserOffline = z.infer<typeof UserOffline>;

export const CleanupScheduled = z.object({ userId: UserId, runAt: IsoTime, at: IsoTime, reason: LeaveReason.optional() });
export type CleanupScheduled = z.infer<typeof CleanupScheduled>;
export const CleanupCancelled = z.object({ userId: UserId, at: IsoTime });
export type CleanupCancelled = z.infer<typeof CleanupCancelled>;

export const ManagerStarted = z.object({ userId: UserId, workerId: Id, at: IsoTime });
export type ManagerStarted = z.infer<typeof ManagerStarted>;
export const STOP_REASONS = ['offline', 'reconcile', 'handover', 'lease_lost', 'admin'] as const;
export const ManagerStopped = z.object({ userId: UserId, workerId: Id, reason: z.string().max(64), at: IsoTime });
export type ManagerStopped = z.infer<typeof ManagerStopped>;

/** One session as the presence state and `presence_state` show it (Phoenix's "meta"). */
export const SessionMeta = z.object({
  sessionId: Id,
  page: DashboardPage,
  joinedAt: IsoTime,
  gatewayId: Id,
  status: SessionStatus,
});
export type SessionMeta = z.infer<typeof SessionMeta>;

/**
 * A gateway's liveness. `bootId` names this incarnation of the process: a gateway restarted under
 * the same INSTANCE_ID holds none of its earlier incarnation's sessions.
 */
export const GatewayHeartbeat = z.object({
  gatewayId: Id,
  sessions: z.number().int().nonnegative(),
  at: IsoTime,
  bootId: Id.optional(),
});
export type GatewayHeartbeat = z.infer<typeof GatewayHeartbeat>;

/** A gateway's answer to a resync request: every live session it holds. */
export const GatewaySessions = z.object({
  gatewayId: Id,
  sessions: z.array(SessionJoined),
  /** When the list was taken (the gateway's clock): a session joined later may be missing from it. */
  asOf: IsoTime.optional(),
});
export type GatewaySessions = z.infer<typeof GatewaySessions>;

export const UserQuery = z.object({ userId: UserId });
export const AdminCrash = z.object({ userId: UserId, component: z.string().min(1).max(64) });
export const WorkerHandover = z.object({ workerId: Id, userIds: z.array(UserId).max(100_000), at: IsoTime });
export type WorkerHandover = z.infer<typeof WorkerHandover>;

export type PresenceMap = Record<string, { metas: SessionMeta[] }>;

export interface UserPresence {
  userId: string;
  metas: SessionMeta[];
  cleanupAt: string | null;
  /** The project's addition: where the user's manager runs, if it does. */
  manager: { workerId: string; startedAt: string } | null;
}

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
  components: ComponentInfo[];
}

/** The `manager` socket event. */
export const MANAGER_STATES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type ManagerState = (typeof MANAGER_STATES)[number];
export interface ManagerStateEvent {
  userId: string;
  state: ManagerState;
  workerId?: string;
  cleanupAt?: string;
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
