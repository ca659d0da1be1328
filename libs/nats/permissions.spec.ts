import { describe, it, expect } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { APP_SUBJECT_USES, operatorPermissions, rolePermissions } from './permissions.js';
import { natsConf } from './nats-conf.js';
import { EVENTS, type EventKind } from '../contracts/events.js';
import { subjectMatches } from './events.transport.js';

const ROOT = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** Every subject builder an app's code names: `XSubjects.name`, `lifecycleSubjectsOf`, `adminSubject`. */
const SUBJECT_REF = /\b(?:[A-Z][A-Za-z]*Subjects\.[A-Za-z]+|lifecycleSubjectsOf|adminSubject)\b/g;
/** Events published by kind (`emit('session.left', …)`): the subject builder is the one in the kind's definition. */
const EMIT_KIND = /\bemit(?:Durable)?\(\s*'([a-z_.]+)'/g;
const isEventKind = (k: string): k is EventKind => Object.hasOwn(EVENTS, k);
function builderOf(kind: EventKind): string {
  const builder = EVENTS[kind].subject.toString().match(SUBJECT_REF)?.[0];
  if (!builder) throw new Error(`event ${kind}: no subject builder in its definition`);
  return builder;
}
function subjectRefs(app: string): string[] {
  const refs = new Set<string>();
  for (const file of sources(join(ROOT, 'apps', app))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SUBJECT_REF)) refs.add(m[0]);
    // Socket.IO events are emitted the same way; only the bus's kinds count.
    for (const m of text.matchAll(EMIT_KIND)) if (isEventKind(m[1])) refs.add(builderOf(m[1]));
  }
  return [...refs].sort();
}

const allowed = (list: string[], subject: string) => list.some((p) => subjectMatches(p, subject));

describe('NATS permissions', () => {
  it('deploy/nats/nats.conf is what `npm run nats-conf` writes from libs/nats/permissions.ts', () => {
    expect(readFileSync(join(ROOT, 'deploy', 'nats', 'nats.conf'), 'utf8')).toBe(natsConf());
  });

  it.each(Object.keys(APP_SUBJECT_USES) as Array<keyof typeof APP_SUBJECT_USES>)(
    '%s: the permissions are keyed by exactly the subject builders its code uses (a new subject cannot be forgotten)',
    (app) => {
      expect(Object.keys(APP_SUBJECT_USES[app]).sort()).toEqual(subjectRefs(app));
    },
  );

  it('a gateway cannot publish what only presence, the workers or an operator may', () => {
    const gw = rolePermissions('gateway').publish.allow;
    for (const subject of [
      'presence.user.alice.online',
      'presence.user.alice.offline',
      'presence.cleanup.alice.scheduled',
      'stream.manager.alice.stopped',
      'stream.console.alice.tick',
      'presence.admin.stop',
      'presence.admin.stop.operator',
      'presence.gateway.gw-1.refused',
      'presence.gateway.resync',
      'presence.gateway.user_ended',
      'presence.audit.admin.stop',
      '$JS.API.STREAM.PURGE.PRESENCE_EVENTS',
      '$JS.API.STREAM.DELETE.PRESENCE_EVENTS',
      '$JS.API.STREAM.UPDATE.PRESENCE_EVENTS',
      '$JS.API.CONSUMER.DELETE.PRESENCE_EVENTS.presence-sessions',
      '$JS.API.CONSUMER.CREATE.PRESENCE_EVENTS',
    ]) {
      expect([subject, allowed(gw, subject)]).toEqual([subject, false]);
    }
    expect(allowed(gw, 'presence.session.alice.joined')).toBe(true);
    expect(allowed(gw, 'presence.gateway.gw-1.heartbeat')).toBe(true);
  });

  it('only presence manages the stream, and nobody may purge or delete it', () => {
    const roles = (['gateway', 'presence', 'stream-workers'] as const).map((r) => [r, rolePermissions(r).publish.allow] as const);
    const op = operatorPermissions('operator').publish;
    for (const [role, pub] of roles) {
      expect([role, allowed(pub, '$JS.API.STREAM.CREATE.PRESENCE_EVENTS')]).toEqual([role, role === 'presence']);
      for (const s of ['$JS.API.STREAM.PURGE.PRESENCE_EVENTS', '$JS.API.STREAM.DELETE.PRESENCE_EVENTS', '$JS.API.STREAM.MSG.DELETE.PRESENCE_EVENTS']) {
        expect([role, s, allowed(pub, s)]).toEqual([role, s, false]);
      }
    }
    for (const s of ['$JS.API.STREAM.PURGE.PRESENCE_EVENTS', '$JS.API.STREAM.DELETE.PRESENCE_EVENTS', '$JS.API.STREAM.UPDATE.PRESENCE_EVENTS']) {
      expect([s, allowed(op.allow, s)]).toEqual([s, false]);
    }
    expect(allowed(op.deny ?? [], '$JS.API.CONSUMER.DELETE.PRESENCE_EVENTS.presence-sessions')).toBe(true);
  });

  it('each app reads only the replies it asked for: its own inbox prefix', () => {
    const sub = rolePermissions('gateway').subscribe.allow;
    expect(allowed(sub, '_INBOX_gateway.abc.1')).toBe(true);
    for (const s of ['_INBOX.abc', '_INBOX_presence.abc', '_INBOX_operator.x']) expect([s, allowed(sub, s)]).toEqual([s, false]);
  });

  it('an operator may run admin actions under its own name only; no app may run them', () => {
    const ann = operatorPermissions('ann').publish.allow;
    expect(allowed(ann, 'presence.admin.stop.ann')).toBe(true);
    expect(allowed(ann, 'presence.admin.stop.bob')).toBe(false);
    expect(allowed(ann, 'presence.admin.stop')).toBe(false);
    for (const role of ['gateway', 'presence', 'stream-workers'] as const) {
      expect([role, allowed(rolePermissions(role).publish.allow, 'presence.admin.stop.ann')]).toEqual([role, false]);
    }
  });

  it('the configuration has no anonymous user and reads every password from the environment', () => {
    const conf = natsConf();
    expect(conf).not.toMatch(/no_auth_user/);
    expect(conf.match(/password: \$NATS_[A-Z]+_PASSWORD/g)).toHaveLength(4);
    expect(conf).toMatch(/^jetstream: enabled$/m);
  });
});
