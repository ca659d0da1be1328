import { z } from 'zod';
import { Id, IsoTime, UserId } from './schemas.js';
import { ADMIN_ACTIONS } from './subjects.js';

/**
 * Operator actions: their requests, their answers and audit records, the notice that tells every
 * gateway a user's sessions were ended, and the faults tests inject into components.
 */

/**
 * `by` is accepted for older clients and ignored: the operator recorded is the one NATS
 * authenticated, named by the request's subject (`presence.admin.<action>.<operator>`).
 */
const Operator = z.string().max(64).optional();
export const AdminStopRequest = z.object({ userId: UserId, by: Operator });
export type AdminStopRequest = z.infer<typeof AdminStopRequest>;
/** `force`: end the sessions even while the gateway answers (a gateway that holds sessions it should not). */
export const AdminPurgeGatewayRequest = z.object({ gatewayId: Id, by: Operator, force: z.boolean().optional() });
export type AdminPurgeGatewayRequest = z.infer<typeof AdminPurgeGatewayRequest>;

/** `now`: stop the manager at once instead of after the grace; `reason`: told to the tabs and kept in the audit record. */
export const AdminEndSessionsRequest = z.object({ userId: UserId, by: Operator, now: z.boolean().optional(), reason: z.string().max(200).optional() });
export type AdminEndSessionsRequest = z.infer<typeof AdminEndSessionsRequest>;

/** Presence to every gateway: end this user's sockets, telling them why, and refuse them until `until`. */
export const UserSessionsEnded = z.object({ userId: UserId, reason: z.string().max(200), until: IsoTime, at: IsoTime });
export type UserSessionsEnded = z.infer<typeof UserSessionsEnded>;

export const ADMIN_OUTCOMES = ['done', 'nothing_to_do', 'refused'] as const;
export type AdminOutcome = (typeof ADMIN_OUTCOMES)[number];
/** The answer to an admin request, and (with `action`, `by`, `at`) its audit record. */
export interface AdminResult {
  outcome: AdminOutcome;
  message: string;
  /** stop, end_sessions: the user; purge_gateway: the gateway. */
  target: string;
  /** purge_gateway: the users whose sessions ended. */
  users?: string[];
  sessions?: number;
}
export const AdminAudit = z.object({
  action: z.enum(ADMIN_ACTIONS),
  target: z.string().max(128),
  outcome: z.enum(ADMIN_OUTCOMES),
  message: z.string().max(500),
  /** The users whose sessions the action ended, so that each one's history shows it. */
  users: z.array(UserId).max(100_000).optional(),
  sessions: z.number().int().nonnegative().optional(),
  /** end_sessions: the operator's reason; purge_gateway: whether it was forced. */
  reason: z.string().max(200).optional(),
  force: z.boolean().optional(),
  /** The operator NATS authenticated. */
  by: z.string().max(64).optional(),
  instanceId: Id,
  at: IsoTime,
});
export type AdminAudit = z.infer<typeof AdminAudit>;

/**
 * How an injected fault is raised inside a component: `fail` through ctx.fail; `tick`,
 * `tick-rejection`, `timer`, `spawn` from callbacks its context handed out; `raw-timer` and
 * `raw-rejection` from a plain timer or promise the component's code made itself.
 */
export const CRASH_MODES = ['fail', 'tick', 'tick-rejection', 'timer', 'spawn', 'raw-timer', 'raw-rejection'] as const;
export type CrashMode = (typeof CRASH_MODES)[number];
export const AdminCrash = z.object({ userId: UserId, component: z.string().min(1).max(64), how: z.enum(CRASH_MODES).default('fail') });
