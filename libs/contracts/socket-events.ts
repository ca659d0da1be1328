import type { PresenceDiff } from './presence-diff.js';
import type { ManagerStateEvent, PresenceMap, SessionStatus } from './presence-types.js';

/*
 * The gateway's Socket.IO events (namespace /presence), one source for the gateway (its typed
 * Namespace) and every client (the SDK, the dashboard page). Types only: nothing here runs.
 */

/** `session`: which session this socket is (sent on connect, again when the gateway re-keys it). */
export interface SessionEvent {
  sessionId: string;
  userId: string;
  gatewayId: string;
}

/** One ConsoleLogger tick of the user's manager (`console_log`, after `presence:console`). */
export interface ConsoleLogEvent {
  userId: string;
  n: number;
  at: string;
  workerId: string;
  generation?: number;
}

/**
 * `presence_grace` (to feed watchers): a user's last session left and their manager stops at
 * `cleanupAt`; null when that is over (the user came back, or the cleanup ran).
 */
export interface GraceEvent {
  userId: string;
  cleanupAt: string | null;
}

/** Why the gateway ended a session, told to it just before the disconnect. */
export const SESSION_END_REASONS = ['rate_limited', 'too_many_sessions', 'ended_by_operator'] as const;
export interface SessionEndedEvent {
  reason: (typeof SESSION_END_REASONS)[number];
  message: string;
  /** ended_by_operator: the user's new sessions are refused until then. */
  until?: string;
}

export interface RateLimitedAnswer {
  error: 'rate_limited';
  message: string;
  retryAfterMs: number;
}

/** The answer (acknowledgement) to a client event. */
export type Ack = { ok: true } | RateLimitedAnswer | { error: 'bad_request' | 'no_session' | 'unknown_event'; message?: string };

export interface StatusBody {
  status: SessionStatus;
}
export interface ConsoleBody {
  on?: boolean;
}

export interface ServerToClientEvents {
  session: (e: SessionEvent) => void;
  manager: (e: ManagerStateEvent) => void;
  presence_state: (state: PresenceMap) => void;
  presence_diff: (diff: PresenceDiff) => void;
  presence_error: (e: { message: string }) => void;
  presence_grace: (e: GraceEvent) => void;
  console_log: (tick: ConsoleLogEvent) => void;
  session_expired: (e: { message: string }) => void;
  session_ended: (e: SessionEndedEvent) => void;
  rate_limited: (e: RateLimitedAnswer) => void;
}

export interface ClientToServerEvents {
  'presence:status': (body: StatusBody, ack?: (answer: Ack) => void) => void;
  'presence:logout': (ack?: (answer: Ack) => void) => void;
  'presence:subscribe': (ack?: (answer: Ack) => void) => void;
  'presence:console': (body?: ConsoleBody | null, ack?: (answer: Ack) => void) => void;
}

export type ServerEvent = keyof ServerToClientEvents;
export type ClientEvent = keyof ClientToServerEvents;
/** The client events the gateway handles; anything else is dropped. */
export const CLIENT_EVENTS: readonly ClientEvent[] = ['presence:status', 'presence:logout', 'presence:subscribe', 'presence:console'];
