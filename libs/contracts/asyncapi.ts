import { z } from 'zod';
import { EVENTS, eventSubject, type EventKind, type EventPayload } from './events.js';
import { ConsoleMessage, ConsoleLogSchema, GraceEventSchema, ManagerEventSchema, MessageEventSchema, PresenceDiffSchema, PresenceMapSchema, RateLimitedSchema, SessionEndedSchema, SessionEventSchema, StatusMessage } from './socket-schemas.js';
import type { ClientEvent, ServerEvent } from './socket-events.js';

/*
 * The AsyncAPI 3 document of the project's messages, generated from the schemas the apps validate
 * with: NATS subjects (every event the apps publish) and the gateway's Socket.IO events. Checked in
 * as docs/asyncapi.json by `npm run asyncapi`; a unit test fails when it is not current.
 */

type Json = Record<string, unknown>;
const schema = (s: z.ZodType): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
};

/** What a NATS event says, for its description. */
const NATS_DESCRIPTIONS: Partial<Record<EventKind, string>> = {
  'session.joined': 'A session connected (published durably by its gateway).',
  'session.updated': "A session's status changed (visible, hidden, idle).",
  'session.left': 'A session ended; reason: closed, lost, logout, gateway_down, expired.',
  'user.online': 'A user with no manager running or pending cleanup gained a session.',
  'user.offline': "The cleanup ran: the user's manager is to stop.",
  'cleanup.scheduled': "The user's last session left: the cleanup runs at runAt.",
  'cleanup.cancelled': 'The user came back before runAt.',
  'manager.started': 'A manager started.',
  'manager.stopped': 'A manager stopped.',
  'console.tick': "One ConsoleLogger tick (core NATS, not kept by the audit stream).",
};

const SOCKET_SERVER: Record<ServerEvent, [z.ZodType, string]> = {
  session: [SessionEventSchema, 'Which session this socket is: on connect, and again when the gateway re-keys it.'],
  manager: [ManagerEventSchema, "The user's stream manager: once after connect, again on every change."],
  presence_state: [PresenceMapSchema, 'After presence:subscribe: who is online, Phoenix-shaped (metas with phx_ref).'],
  presence_diff: [PresenceDiffSchema, "Then: Phoenix's joins and leaves (a status change is the old meta's leave and the new one's join), and updates."],
  presence_error: [MessageEventSchema, 'The presence snapshot could not be had: subscribe again.'],
  presence_grace: [GraceEventSchema, "After presence:subscribe: a user's last session left, their manager stops at cleanupAt (null: not any more)."],
  console_log: [ConsoleLogSchema, "After presence:console: the user's manager's ConsoleLogger ticks."],
  session_expired: [MessageEventSchema, "The token's exp passed: the session ends."],
  session_ended: [SessionEndedSchema, 'The gateway ends the session, and says why.'],
  rate_limited: [RateLimitedSchema, 'Too many events: they are dropped for a while.'],
};
const SOCKET_CLIENT: Record<ClientEvent, [z.ZodType | null, string]> = {
  'presence:status': [StatusMessage, "This session's status; answered {ok: true} or an error."],
  'presence:logout': [null, 'The next leave of this session has reason logout.'],
  'presence:subscribe': [null, 'Send presence_state, then presence_diff.'],
  'presence:console': [ConsoleMessage, 'Send (or, with {on: false}, stop) console_log.'],
};

/** A payload standing for any one: every field a subject is built from reads as its {parameter}. */
const template = new Proxy({}, { get: (_t, key) => `{${String(key)}}` }) as never;

export function asyncApiDocument(version: string): Json {
  const channels: Json = {};
  const operations: Json = {};
  const messages: Json = {};
  for (const kind of Object.keys(EVENTS) as EventKind[]) {
    const address = eventSubject(kind, template as EventPayload<typeof kind>);
    const params = [...address.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    messages[kind] = { name: kind, contentType: 'application/json', payload: schema(EVENTS[kind].schema), ...(NATS_DESCRIPTIONS[kind] ? { summary: NATS_DESCRIPTIONS[kind] } : {}) };
    channels[kind] = {
      address,
      servers: [{ $ref: '#/servers/nats' }],
      messages: { [kind]: { $ref: `#/components/messages/${kind}` } },
      ...(params.length ? { parameters: Object.fromEntries(params.map((p) => [p, { description: `the ${p} of the payload` }])) } : {}),
    };
    operations[`publish.${kind}`] = { action: 'send', channel: { $ref: `#/channels/${kind}` } };
  }
  const socketMessages = (events: Record<string, [z.ZodType | null, string]>) =>
    Object.fromEntries(
      Object.entries(events).map(([name, [s, summary]]) => {
        messages[`socket.${name}`] = { name, summary, contentType: 'application/json', ...(s ? { payload: schema(s) } : {}) };
        return [name, { $ref: `#/components/messages/socket.${name}` }];
      }),
    );
  channels['socket.presence'] = {
    address: '/presence',
    description: 'The gateway\'s Socket.IO namespace (Socket.IO 4, path /socket.io). Handshake auth: {token, page?}.',
    servers: [{ $ref: '#/servers/gateway' }],
    messages: { ...socketMessages(SOCKET_SERVER), ...socketMessages(SOCKET_CLIENT) },
  };
  operations['socket.toClient'] = { action: 'send', channel: { $ref: '#/channels/socket.presence' }, messages: Object.keys(SOCKET_SERVER).map((n) => ({ $ref: `#/channels/socket.presence/messages/${n}` })) };
  operations['socket.fromClient'] = { action: 'receive', channel: { $ref: '#/channels/socket.presence' }, messages: Object.keys(SOCKET_CLIENT).map((n) => ({ $ref: `#/channels/socket.presence/messages/${n}` })) };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Presence lifecycle',
      version,
      description: 'NATS subjects the apps publish (plain JSON, every payload with `at`) and the gateway\'s Socket.IO events. Generated from the zod schemas in libs/contracts by `npm run asyncapi`.',
    },
    servers: {
      nats: { host: '127.0.0.1:4222', protocol: 'nats', description: 'NATS_URL' },
      gateway: { host: 'localhost:3000', protocol: 'ws', pathname: '/socket.io', description: 'GATEWAY_PORT' },
    },
    channels,
    operations,
    components: { messages },
  };
}
