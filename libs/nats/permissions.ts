import {
  AuditSubjects,
  CleanupSubjects,
  ConsoleSubjects,
  InternalSubjects,
  ManagerSubjects,
  QuerySubjects,
  SessionSubjects,
  StreamStateSubjects,
  UserSubjects,
  adminSubject,
  lifecycleSubjectsOf,
  type AdminAction,
} from '#libs/contracts/index.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from './streams.js';

/**
 * Who may publish and subscribe what on NATS: the one source of `deploy/nats/nats.conf`
 * (`npm run nats-conf` writes it from here). Each app's entry is keyed by the subject builders its
 * code names (libs/nats/permissions.spec.ts reads the apps' sources and holds the keys to exactly
 * those), and every subject is made by that builder with `*` for its variable parts, so a subject
 * renamed in libs/contracts is renamed here too.
 */

export type Role = 'gateway' | 'presence' | 'stream-workers' | 'operator';
export const ROLES: readonly Role[] = ['gateway', 'presence', 'stream-workers', 'operator'];

/** What one use of a subject builder in an app's code needs: to publish it, to subscribe to it, or both. */
export interface SubjectUse {
  pub?: string[];
  sub?: string[];
}

const any = '*';
const pub = (...s: string[]): SubjectUse => ({ pub: s });
const sub = (...s: string[]): SubjectUse => ({ sub: s });
const both = (...s: string[]): SubjectUse => ({ pub: s, sub: s });

/** The NATS services API's discovery subjects a service answers (`nats micro ls|info|stats`). */
const serviceDiscovery = (name: string) => ['$SRV.*', `$SRV.*.${name}`, `$SRV.*.${name}.*`];

/** Read-only JetStream: the account and the event stream's info (every app's health probe asks it). */
const JS_READ = ['$JS.API.INFO', `$JS.API.STREAM.INFO.${AUDIT_STREAM}`];

/**
 * Presence manages its stream and its durable consumer and reads stored joins; nothing here
 * deletes or purges a stream, nor deletes a consumer.
 */
const JS_PRESENCE = [
  ...JS_READ,
  `$JS.API.STREAM.CREATE.${AUDIT_STREAM}`,
  `$JS.API.STREAM.UPDATE.${AUDIT_STREAM}`,
  `$JS.API.STREAM.MSG.GET.${AUDIT_STREAM}`,
  `$JS.API.DIRECT.GET.${AUDIT_STREAM}`,
  `$JS.API.DIRECT.GET.${AUDIT_STREAM}.>`,
  `$JS.API.CONSUMER.INFO.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
  `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
  `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
  `$JS.API.CONSUMER.MSG.NEXT.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
  // Acks, naks and `working()`: several answers to one delivery, more than allow_responses' one.
  `$JS.ACK.${AUDIT_STREAM}.${PRESENCE_CONSUMER}.>`,
];

/** Reading the stream as `nats stream view` and `npm run inspect -- history` do: ephemeral ordered consumers. */
const JS_OPERATOR = [
  ...JS_READ,
  '$JS.API.STREAM.NAMES',
  '$JS.API.STREAM.LIST',
  `$JS.API.STREAM.MSG.GET.${AUDIT_STREAM}`,
  `$JS.API.DIRECT.GET.${AUDIT_STREAM}`,
  `$JS.API.DIRECT.GET.${AUDIT_STREAM}.>`,
  `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}.>`,
  `$JS.API.CONSUMER.INFO.${AUDIT_STREAM}.>`,
  `$JS.API.CONSUMER.NAMES.${AUDIT_STREAM}`,
  `$JS.API.CONSUMER.LIST.${AUDIT_STREAM}`,
  `$JS.API.CONSUMER.MSG.NEXT.${AUDIT_STREAM}.>`,
  `$JS.API.CONSUMER.DELETE.${AUDIT_STREAM}.>`,
];

/**
 * Every requester gets its answers on an inbox: each app under its own prefix, so that no role can
 * read the replies another asked for (a stolen gateway credential does not see admin answers).
 */
export const roleInbox = (app: string) => `_INBOX_${app.replace(/[^A-Za-z0-9_-]/g, '_')}`;
const inbox = (app: string) => `${roleInbox(app)}.>`;

/** Subject builders each app's code uses, and what each use needs. Keys are the names in the code. */
export const APP_SUBJECT_USES: Record<Exclude<Role, 'operator'>, Record<string, SubjectUse>> = {
  gateway: {
    'SessionSubjects.joined': pub(SessionSubjects.joined(any)),
    'SessionSubjects.updated': pub(SessionSubjects.updated(any)),
    'SessionSubjects.left': pub(SessionSubjects.left(any)),
    'SessionSubjects.anyJoined': sub(SessionSubjects.anyJoined),
    'SessionSubjects.anyUpdated': sub(SessionSubjects.anyUpdated),
    'SessionSubjects.anyLeft': sub(SessionSubjects.anyLeft),
    // The presence feed's grace view: whose manager stops when, while a socket watches the feed.
    'CleanupSubjects.anyScheduled': sub(CleanupSubjects.anyScheduled),
    'CleanupSubjects.anyCancelled': sub(CleanupSubjects.anyCancelled),
    'UserSubjects.anyOffline': sub(UserSubjects.anyOffline),
    'ConsoleSubjects.tick': sub(ConsoleSubjects.tick(any)),
    lifecycleSubjectsOf: sub(...lifecycleSubjectsOf(any)),
    'QuerySubjects.users': pub(QuerySubjects.users),
    'QuerySubjects.user': pub(QuerySubjects.user),
    'InternalSubjects.gatewayHeartbeat': pub(InternalSubjects.gatewayHeartbeat(any)),
    'InternalSubjects.gatewayResync': sub(InternalSubjects.gatewayResync),
    'InternalSubjects.gatewaySessions': sub(InternalSubjects.gatewaySessions(any)),
    'InternalSubjects.sessionRefused': sub(InternalSubjects.sessionRefused(any)),
    'InternalSubjects.userSessionsEnded': sub(InternalSubjects.userSessionsEnded),
  },
  presence: {
    // Repairs: leaves of a dead gateway's sessions, joins re-announced in a reconciliation.
    'SessionSubjects.joined': pub(SessionSubjects.joined(any)),
    'SessionSubjects.left': pub(SessionSubjects.left(any)),
    // Consumed through the durable consumer (deliveries come to an inbox), not subscribed to.
    'SessionSubjects.anyJoined': {},
    'SessionSubjects.anyLeft': {},
    'SessionSubjects.anyUpdated': {},
    'UserSubjects.online': pub(UserSubjects.online(any)),
    'UserSubjects.offline': pub(UserSubjects.offline(any)),
    'CleanupSubjects.scheduled': pub(CleanupSubjects.scheduled(any)),
    'CleanupSubjects.cancelled': pub(CleanupSubjects.cancelled(any)),
    'AuditSubjects.admin': pub(AuditSubjects.admin(any as AdminAction)),
    'QuerySubjects.users': sub(QuerySubjects.users),
    'QuerySubjects.user': sub(QuerySubjects.user),
    'QuerySubjects.stats': sub(QuerySubjects.stats),
    'QuerySubjects.debug': sub(QuerySubjects.debug),
    // Each operator's own admin subject: `presence.admin.<action>.<operator>`.
    adminSubject: sub(`${adminSubject(any as AdminAction)}.*`),
    'InternalSubjects.anyGatewayHeartbeat': sub(InternalSubjects.anyGatewayHeartbeat),
    'InternalSubjects.gatewayResync': pub(InternalSubjects.gatewayResync),
    'InternalSubjects.gatewaySessions': pub(InternalSubjects.gatewaySessions(any)),
    'InternalSubjects.sessionRefused': pub(InternalSubjects.sessionRefused(any)),
    'InternalSubjects.userSessionsEnded': pub(InternalSubjects.userSessionsEnded),
  },
  'stream-workers': {
    'UserSubjects.anyOnline': sub(UserSubjects.anyOnline),
    'UserSubjects.anyOffline': sub(UserSubjects.anyOffline),
    'ManagerSubjects.started': pub(ManagerSubjects.started(any)),
    'ManagerSubjects.stopped': pub(ManagerSubjects.stopped(any)),
    'ConsoleSubjects.tick': pub(ConsoleSubjects.tick(any)),
    'StreamStateSubjects.any': sub(StreamStateSubjects.any),
    'QuerySubjects.managers': sub(QuerySubjects.managers),
    'InternalSubjects.workerManagers': both(InternalSubjects.workerManagers(any)),
    'InternalSubjects.workerHandover': both(InternalSubjects.workerHandover),
    // Fault injection (FAULT_INJECTION=1 only): the crash requests come from an operator or a test.
    'InternalSubjects.adminCrash': sub(InternalSubjects.adminCrash),
  },
};

export interface Permissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /**
   * Responders may answer the requests they receive: `true` one answer each; `{max, expires}` up
   * to `max` answers within `expires` (a gateway's session list comes in pages).
   */
  allowResponses: boolean | { max: number; expires: string };
}

function fromUses(uses: Record<string, SubjectUse>, extra: { pub: string[]; sub: string[] }, allowResponses: Permissions['allowResponses'] = true): Permissions {
  const p = new Set<string>();
  const s = new Set<string>();
  for (const u of Object.values(uses)) {
    for (const x of u.pub ?? []) p.add(x);
    for (const x of u.sub ?? []) s.add(x);
  }
  for (const x of extra.pub) p.add(x);
  for (const x of extra.sub) s.add(x);
  return { publish: { allow: [...p] }, subscribe: { allow: [...s] }, allowResponses };
}

/**
 * An operator (a person, `npm run inspect`, the NATS CLI): reads everything, asks every query,
 * may run the admin actions only under its own name, and reads the stream without changing it.
 */
export function operatorPermissions(name: string): Permissions {
  return {
    publish: {
      allow: [
        'presence.query.*',
        'stream.query.*',
        ...(['stop', 'purge_gateway', 'end_sessions'] satisfies AdminAction[]).map((a) => `${adminSubject(a)}.${name}`),
        '$SRV.>',
        ...JS_OPERATOR,
      ],
      // Presence's own consumer is presence's: an operator removing or reconfiguring it would lose session events.
      deny: [
        `$JS.API.CONSUMER.DELETE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
        `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}`,
        `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}.${PRESENCE_CONSUMER}.>`,
      ],
    },
    subscribe: { allow: ['>'] },
    allowResponses: false,
  };
}

/** Each role's permissions. */
export function rolePermissions(role: Exclude<Role, 'operator'>): Permissions {
  switch (role) {
    case 'gateway':
      // Its session list answers presence in pages (sessionPages: 1 MB each) and an empty last one.
      return fromUses(APP_SUBJECT_USES.gateway, { pub: JS_READ, sub: [inbox(role)] }, { max: 1000, expires: '1m' });
    case 'presence':
      return fromUses(APP_SUBJECT_USES.presence, { pub: JS_PRESENCE, sub: [inbox(role), ...serviceDiscovery('presence')] });
    case 'stream-workers':
      return fromUses(APP_SUBJECT_USES['stream-workers'], { pub: JS_READ, sub: [inbox(role), ...serviceDiscovery('stream-workers')] });
  }
}

/** The environment variable of nats-server that holds each role's password. */
export const ROLE_PASSWORD_ENV: Record<Role, string> = {
  gateway: 'NATS_GATEWAY_PASSWORD',
  presence: 'NATS_PRESENCE_PASSWORD',
  'stream-workers': 'NATS_WORKERS_PASSWORD',
  operator: 'NATS_OPERATOR_PASSWORD',
};
