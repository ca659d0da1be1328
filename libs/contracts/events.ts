import type { z } from 'zod';
import {
  AdminAudit,
  CleanupCancelled,
  CleanupScheduled,
  ConsoleTick,
  GatewayHeartbeat,
  GatewayResync,
  ManagerStarted,
  ManagerStopped,
  SessionJoined,
  SessionLeft,
  SessionRefused,
  SessionUpdated,
  UserOffline,
  UserOnline,
  UserSessionsEnded,
  WorkerHandover,
} from './schemas.js';
import { AuditSubjects, CleanupSubjects, ConsoleSubjects, InternalSubjects, ManagerSubjects, SessionSubjects, UserSubjects } from './subjects.js';

/** One kind of message a producer publishes: its payload's schema, and its subject, derived from the payload. */
export interface EventDef<S extends z.ZodType> {
  schema: S;
  subject: (payload: z.input<S>) => string;
}
const event = <S extends z.ZodType>(schema: S, subject: (payload: z.input<S>) => string): EventDef<S> => ({ schema, subject });

/**
 * Every message the apps publish (not requests and their answers), by kind. The subject is built
 * from the payload, so the user (or gateway, or action) a subject names is always the payload's:
 * consumers check that they agree, and a producer cannot make them disagree. Consumers validate with
 * the same schema. The message ids of the durable ones are in message-ids.ts.
 */
export const EVENTS = {
  'session.joined': event(SessionJoined, (p) => SessionSubjects.joined(p.userId)),
  'session.updated': event(SessionUpdated, (p) => SessionSubjects.updated(p.userId)),
  'session.left': event(SessionLeft, (p) => SessionSubjects.left(p.userId)),
  'user.online': event(UserOnline, (p) => UserSubjects.online(p.userId)),
  'user.offline': event(UserOffline, (p) => UserSubjects.offline(p.userId)),
  'cleanup.scheduled': event(CleanupScheduled, (p) => CleanupSubjects.scheduled(p.userId)),
  'cleanup.cancelled': event(CleanupCancelled, (p) => CleanupSubjects.cancelled(p.userId)),
  'manager.started': event(ManagerStarted, (p) => ManagerSubjects.started(p.userId)),
  'manager.stopped': event(ManagerStopped, (p) => ManagerSubjects.stopped(p.userId)),
  'console.tick': event(ConsoleTick, (p) => ConsoleSubjects.tick(p.userId)),
  'audit.admin': event(AdminAudit, (p) => AuditSubjects.admin(p.action)),
  'gateway.heartbeat': event(GatewayHeartbeat, (p) => InternalSubjects.gatewayHeartbeat(p.gatewayId)),
  'gateway.refused': event(SessionRefused, (p) => InternalSubjects.sessionRefused(p.gatewayId)),
  'gateway.resync': event(GatewayResync, () => InternalSubjects.gatewayResync),
  'gateway.user_ended': event(UserSessionsEnded, () => InternalSubjects.userSessionsEnded),
  'worker.handover': event(WorkerHandover, () => InternalSubjects.workerHandover),
} as const;

export type EventKind = keyof typeof EVENTS;
/** What a producer of `K` hands over (the schema's input: a field with a default may be left out). */
export type EventPayload<K extends EventKind> = z.input<(typeof EVENTS)[K]['schema']>;
/** The session events, published durably (JetStream acknowledges each one). */
export type DurableEventKind = 'session.joined' | 'session.updated' | 'session.left';

/** Publishes one event of the contract; the subject is derived from the payload. */
export type Emit = <K extends EventKind>(kind: K, payload: EventPayload<K>) => void;

/** The subject an event of `kind` with this payload is published on. */
export function eventSubject<K extends EventKind>(kind: K, payload: EventPayload<K>): string {
  // The map pairs each kind with its own builder; TypeScript cannot follow that pairing through an index.
  return (EVENTS[kind].subject as (p: EventPayload<K>) => string)(payload);
}
