/**
 * Every NATS subject of the system, in one place. The names are fixed by shared/CONTRACT.md;
 * the `internal` ones are the project's own additions and may change.
 */

export const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const SessionSubjects = {
  joined: (userId: string) => `presence.session.${userId}.joined`,
  updated: (userId: string) => `presence.session.${userId}.updated`,
  left: (userId: string) => `presence.session.${userId}.left`,
  all: 'presence.session.>',
  anyJoined: 'presence.session.*.joined',
  anyUpdated: 'presence.session.*.updated',
  anyLeft: 'presence.session.*.left',
} as const;

export const UserSubjects = {
  online: (userId: string) => `presence.user.${userId}.online`,
  offline: (userId: string) => `presence.user.${userId}.offline`,
  anyOnline: 'presence.user.*.online',
  anyOffline: 'presence.user.*.offline',
} as const;

export const CleanupSubjects = {
  scheduled: (userId: string) => `presence.cleanup.${userId}.scheduled`,
  cancelled: (userId: string) => `presence.cleanup.${userId}.cancelled`,
  anyScheduled: 'presence.cleanup.*.scheduled',
  anyCancelled: 'presence.cleanup.*.cancelled',
} as const;

export const ManagerSubjects = {
  started: (userId: string) => `stream.manager.${userId}.started`,
  stopped: (userId: string) => `stream.manager.${userId}.stopped`,
  anyStarted: 'stream.manager.*.started',
  anyStopped: 'stream.manager.*.stopped',
} as const;

/**
 * Every lifecycle event of one user, each subject spelled out. A gateway subscribes to these for
 * each of its users, from their first tab to their last: NATS keeps a cache of recent subjects'
 * matches, and a subscription with a wildcard makes it test every cached subject against the new
 * interest, on subscribe and on unsubscribe; literal subjects skip that test. Under traffic, and in
 * a mass leave above all (every user forgotten at once), that made wildcards the costlier shape by
 * far (`bench/follow-cost.ts` measures the two; docs/BENCHMARKS.md has the figures).
 */
export const lifecycleSubjectsOf = (userId: string): string[] => [
  ManagerSubjects.started(userId),
  ManagerSubjects.stopped(userId),
  CleanupSubjects.scheduled(userId),
  CleanupSubjects.cancelled(userId),
  UserSubjects.online(userId),
  UserSubjects.offline(userId),
];

/**
 * Each ConsoleLogger tick, for the dashboard's live log. Core NATS (fire and forget, no ack):
 * a lost tick is harmless and the next one follows within CONSOLE_LOGGER_INTERVAL_MS. Kept out of
 * AUDIT_STREAM_SUBJECTS on purpose: ticks are a firehose, not lifecycle events. The trailing
 * `.tick` gives the subject the same four-token shape as the lifecycle events, so the subject's
 * user id is checked against the payload's like everywhere else.
 */
export const ConsoleSubjects = {
  tick: (userId: string) => `stream.console.${userId}.tick`,
  anyTick: 'stream.console.*.tick',
} as const;

/** Request to the worker running a user's manager: read or change its StreamStateServer. */
export const StreamStateSubjects = {
  user: (userId: string) => `stream.state.${userId}`,
  any: 'stream.state.*',
} as const;

export const QuerySubjects = {
  users: 'presence.query.users',
  user: 'presence.query.user',
  stats: 'presence.query.stats',
  managers: 'stream.query.managers',
  /** The project's addition: everything `npm run inspect -- debug` shows that lives in Redis. */
  debug: 'presence.query.debug',
} as const;

/**
 * Operator actions, endpoints of the `presence` service (requests: never kept in the stream, since
 * JetStream would answer a stored request with its own ack). Each one publishes an AuditSubjects
 * record, and its effects (offline, leaves) are ordinary lifecycle events.
 */
export const AdminSubjects = {
  /** {userId}: end the user's manager now (a pending cleanup runs at once; offline reason `admin`). */
  stop: 'presence.admin.stop',
  /** {gatewayId, force?}: end every session of a dead gateway (leaves with reason `gateway_down`); `force`: even while it answers. */
  purgeGateway: 'presence.admin.purge_gateway',
  /** {userId, now?, reason?}: end a present user's sessions on every gateway, keep them out a while, stop their manager. */
  endSessions: 'presence.admin.end_sessions',
} as const;

/** Every admin action: the presence service registers one endpoint per action, and audits each. */
export const ADMIN_ACTIONS = ['stop', 'purge_gateway', 'end_sessions'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];
/** The request subject of an action: `stop` -> `presence.admin.stop` (AdminSubjects spells each out). */
export const adminSubject = (action: AdminAction) => `presence.admin.${action}`;
/**
 * Where an operator sends an action: `presence.admin.stop.<operator>`. Each operator's NATS user may
 * publish under its own name only, so presence reads who asked from the subject, not the body.
 */
export const operatorAdminSubject = (action: AdminAction, operator: string) => `${adminSubject(action)}.${operator}`;

/** Records of operator actions, kept in the audit stream. */
export const AuditSubjects = {
  admin: (action: AdminAction) => `presence.audit.admin.${action}`,
  all: 'presence.audit.>',
} as const;

/** Project-internal subjects: liveness, resync and worker fan-out. */
export const InternalSubjects = {
  gatewayHeartbeat: (gatewayId: string) => `presence.gateway.${gatewayId}.heartbeat`,
  anyGatewayHeartbeat: 'presence.gateway.*.heartbeat',
  /** Request to one gateway: answer with every live session it holds. */
  gatewaySessions: (gatewayId: string) => `presence.gateway.${gatewayId}.sessions`,
  /** To one gateway: end this session (presence refused it, e.g. the user's global session cap). */
  sessionRefused: (gatewayId: string) => `presence.gateway.${gatewayId}.refused`,
  /** Broadcast to every gateway: an operator ended this user's sessions; close their sockets, keep them out a while. */
  userSessionsEnded: 'presence.gateway.user_ended',
  /** Broadcast to every gateway: re-announce your sessions (Redis lost its data). */
  gatewayResync: 'presence.gateway.resync',
  /** Request to one worker: its running managers. */
  workerManagers: (workerId: string) => `stream.worker.${workerId}.managers`,
  /** Broadcast: these users' managers were released by a worker that is shutting down. */
  workerHandover: 'stream.worker.handover',
  /** Fault injection (off unless FAULT_INJECTION=1): crash one component of a user's manager. */
  adminCrash: 'stream.admin.crash',
} as const;

/** Subjects the audit stream keeps: lifecycle events only, never request/reply subjects. */
export const AUDIT_STREAM_SUBJECTS = [
  'presence.session.>',
  'presence.user.>',
  'presence.cleanup.>',
  'stream.manager.>',
  AuditSubjects.all,
];

/** `presence.session.alice.joined` -> `alice`; null when the subject is not of that shape. */
export function userIdFromSubject(subject: string): string | null {
  const parts = subject.split('.');
  if (parts.length !== 4) return null;
  const userId = parts[2];
  return USER_ID_RE.test(userId) ? userId : null;
}
