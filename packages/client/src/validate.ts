import { MANAGER_STATES, SESSION_STATUSES, type ManagerStateEvent, type PresenceMap, type SessionStatus } from '../../../libs/contracts/presence-types.js';
import type { PresenceDiff } from '../../../libs/contracts/presence-diff.js';
import type { ConsoleLogEvent, GraceEvent, SessionEvent } from '../../../libs/contracts/socket-events.js';

/*
 * Checks of what the gateway sends and what the caller passes, without zod (the SDK's only runtime
 * dependency is socket.io-client). A payload that fails is ignored, so a client never shows a
 * state it cannot read.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

export const isStatus = (v: unknown): v is SessionStatus => (SESSION_STATUSES as readonly unknown[]).includes(v);

export function isManagerEvent(v: unknown): v is ManagerStateEvent {
  return isObject(v) && isString(v.userId) && (MANAGER_STATES as readonly unknown[]).includes(v.state) && (v.workerId === undefined || isString(v.workerId)) && (v.cleanupAt === undefined || isString(v.cleanupAt));
}

export function isSessionEvent(v: unknown): v is SessionEvent {
  return isObject(v) && isString(v.sessionId) && isString(v.userId) && isString(v.gatewayId);
}

export function isGraceEvent(v: unknown): v is GraceEvent {
  return isObject(v) && isString(v.userId) && (v.cleanupAt === null || isString(v.cleanupAt));
}

export function isConsoleTick(v: unknown): v is ConsoleLogEvent {
  return isObject(v) && isString(v.userId) && typeof v.n === 'number' && Number.isInteger(v.n) && v.n > 0 && isString(v.at) && isString(v.workerId);
}

function isMetaGroup(v: unknown, full: boolean): boolean {
  if (!isObject(v)) return false;
  return Object.values(v).every((p) => isObject(p) && Array.isArray(p.metas) && p.metas.every((m) => isObject(m) && isString(m.sessionId) && (!full || isStatus(m.status))));
}

export const isPresenceMap = (v: unknown): v is PresenceMap => isMetaGroup(v, true);

export function isPresenceDiff(v: unknown): v is PresenceDiff {
  return isObject(v) && isMetaGroup(v.joins ?? {}, true) && isMetaGroup(v.leaves ?? {}, false) && (v.updates === undefined || isMetaGroup(v.updates, false));
}

const DASHBOARD_PAGE = /^\/dashboard(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$/;

/** The caller's arguments: a clear TypeError at once rather than a refusal later. */
export function checkOptions(url: unknown, opts: unknown): void {
  if (typeof url !== 'string' || !/^(https?|wss?):\/\//.test(url)) throw new TypeError('connectPresence(url): url must be an http(s) URL of the gateway, e.g. "http://localhost:3000"');
  if (!isObject(opts)) throw new TypeError('connectPresence(url, options): options must be an object with a token');
  if (!isString(opts.token)) throw new TypeError('connectPresence: options.token must be a non-empty string (a JWT)');
  if (opts.page !== undefined && (typeof opts.page !== 'string' || !DASHBOARD_PAGE.test(opts.page))) throw new TypeError('connectPresence: options.page must be a path under /dashboard');
  if (opts.idleMs !== undefined && (typeof opts.idleMs !== 'number' || !(opts.idleMs >= 1000 && opts.idleMs <= 86_400_000))) throw new TypeError('connectPresence: options.idleMs must be between 1000 and 86400000');
}
