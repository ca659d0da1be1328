import { natsConf, type ConfUser } from '../../libs/nats/nats-conf.js';
import { ROLE_PASSWORD_ENV, type Permissions, type Role } from '../../libs/nats/permissions.js';

/**
 * NATS as the tests run it: deploy/nats/nats.conf's users and permissions (generated from the same
 * code), each app connecting as its own role, so every e2e test proves the permissions are enough.
 * Besides the roles: a second operator (`ops-ann`, for tests that name who acted) and `e2e`, the
 * test's own observer, which watches everything and plays the parts of misbehaving clients. `e2e`
 * exists only in the tests' configuration, never in deploy/.
 */

export type NatsIdentity = Role | 'ops-ann' | 'e2e';

export const NATS_PASSWORDS: Record<NatsIdentity, string> = {
  gateway: 'e2e-gateway-password',
  presence: 'e2e-presence-password',
  'stream-workers': 'e2e-workers-password',
  operator: 'e2e-operator-password',
  'ops-ann': 'e2e-ops-ann-password',
  e2e: 'e2e-observer-password',
};

const OBSERVER: Permissions = { publish: { allow: ['>'] }, subscribe: { allow: ['>'] }, allowResponses: true };

/** nats-server's environment: the roles' passwords, as deploy/nats/nats.conf reads them. */
export function natsServerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const role of Object.keys(ROLE_PASSWORD_ENV) as Role[]) env[ROLE_PASSWORD_ENV[role]] = NATS_PASSWORDS[role];
  env.NATS_OPERATOR_OPS_ANN_PASSWORD = NATS_PASSWORDS['ops-ann'];
  return env;
}

/** The configuration text the tests run nats-server with (flags give port, store and cluster). */
export function testNatsConf(opts: { port?: number; storeDir?: string } = {}): string {
  const e2e: ConfUser = { user: 'e2e', password: { literal: NATS_PASSWORDS.e2e }, permissions: OBSERVER };
  return natsConf({ ...opts, operators: ['ops-ann'], extraUsers: [e2e] });
}

/** `nats://host:port[,…]` with `who`'s credentials on every entry (`anonymous`: none). */
export function withIdentity(url: string, who: NatsIdentity | 'anonymous'): string {
  if (who === 'anonymous') return url;
  return url
    .split(',')
    .map((e) => {
      const u = new URL(e.trim());
      u.username = encodeURIComponent(who);
      u.password = encodeURIComponent(NATS_PASSWORDS[who]);
      return u.toString().replace(/\/$/, '');
    })
    .join(',');
}
