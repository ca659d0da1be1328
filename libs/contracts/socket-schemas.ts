import { z } from 'zod';
import { ConsoleTick, IsoTime, SessionMeta, SessionStatus, UserId, type Same } from './schemas.js';
import { MANAGER_STATES, type ManagerStateEvent, type PresenceMap } from './presence-types.js';
import type { MetaPatch } from './presence-diff.js';
import { SESSION_END_REASONS, type ConsoleLogEvent, type ConsoleBody, type GraceEvent, type SessionEndedEvent, type SessionEvent, type StatusBody } from './socket-events.js';

/*
 * zod schemas of the socket events' payloads: the gateway validates what clients send with them,
 * and the AsyncAPI document describes every event from them. Each is checked at compile time to
 * infer exactly its type in socket-events.ts (the types clients compile against).
 */

/** `presence:status`. */
export const StatusMessage = z.object({ status: SessionStatus });
/** `presence:console`, `presence:console {on: true}`: send me my ticks; `{on: false}`: stop. */
export const ConsoleMessage = z.object({ on: z.boolean().optional() });

export const SessionEventSchema = z.object({ sessionId: z.string(), userId: UserId, gatewayId: z.string() });
export const ManagerEventSchema = z.object({ userId: UserId, state: z.enum(MANAGER_STATES), workerId: z.string().optional(), cleanupAt: IsoTime.optional() });
export const PresenceMapSchema = z.record(UserId, z.object({ metas: z.array(SessionMeta) }));
const MetaPatchSchema = SessionMeta.partial().extend({ sessionId: z.string() });
const PatchMap = z.record(UserId, z.object({ metas: z.array(MetaPatchSchema) }));
export const PresenceDiffSchema = z.object({ joins: PresenceMapSchema, leaves: PresenceMapSchema, updates: PatchMap.optional() });
export const MessageEventSchema = z.object({ message: z.string() });
export const SessionEndedSchema = z.object({ reason: z.enum(SESSION_END_REASONS), message: z.string(), until: IsoTime.optional() });
export const RateLimitedSchema = z.object({ error: z.literal('rate_limited'), message: z.string(), retryAfterMs: z.number() });
export const ConsoleLogSchema = ConsoleTick;
export const GraceEventSchema = z.object({ userId: UserId, cleanupAt: IsoTime.nullable() });

const _checks: [
  Same<z.infer<typeof StatusMessage>, StatusBody>,
  Same<z.infer<typeof ConsoleMessage>, ConsoleBody>,
  Same<z.infer<typeof SessionEventSchema>, SessionEvent>,
  Same<z.infer<typeof ManagerEventSchema>, ManagerStateEvent>,
  Same<z.infer<typeof PresenceMapSchema>, PresenceMap>,
  Same<z.infer<typeof MetaPatchSchema>, MetaPatch>,
  Same<z.infer<typeof SessionEndedSchema>, SessionEndedEvent>,
  Same<z.infer<typeof ConsoleLogSchema>, ConsoleLogEvent>,
  Same<z.infer<typeof GraceEventSchema>, GraceEvent>,
] = [true, true, true, true, true, true, true, true, true];
