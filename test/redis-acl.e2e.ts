import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ROOT, Stack, uniqueUser } from './support/harness.js';

/**
 * Redis as docker-compose.yml runs it: the default user off, one ACL user per app with its own
 * password in its REDIS_URL. The whole lifecycle works with those rights, and a client without a
 * password, or with an app's password but a wrong user, is refused.
 */

jest.setTimeout(60_000);

const PASSWORDS: Record<string, string> = { presence: 'acl-presence-pw', 'stream-workers': 'acl-workers-pw' };

/** The ACL rules of docker-compose.yml's redis command, read from the file so the two cannot drift. */
function composeAclRules(): string[] {
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const rules = [...compose.matchAll(/--user (presence|stream-workers) on "[^"]+" (.+?) \\/g)].map((m) => [m[1], m[2]] as const);
  expect(rules.map(([u]) => u)).toEqual(['presence', 'stream-workers']);
  return rules.flatMap(([user, rest]) => ['--user', user, 'on', `>${PASSWORDS[user]}`, ...rest.split(' ').map((r) => r.replace(/^'|'$/g, ''))]);
}

const stack = new Stack({
  backends: {
    redis: {
      args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hz', '100', '--user', 'default', 'off', ...composeAclRules()],
      url: (port) => `redis://presence:${PASSWORDS.presence}@127.0.0.1:${port}`,
      urlAs: (app, port) => (app === 'stream-workers' ? `redis://stream-workers:${PASSWORDS['stream-workers']}@127.0.0.1:${port}` : `redis://presence:${PASSWORDS.presence}@127.0.0.1:${port}`),
    },
  },
});

beforeAll(() => stack.start());
afterAll(() => stack.stop());

describe('Redis with one ACL user per app', () => {
  it('a user comes and goes: the manager starts and stops', async () => {
    const user = uniqueUser('acl');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    tab.close();
    await stack.observer.waitFor(`stream.manager.${user}.stopped`, 15_000);
  });

  it('refuses a client without a password, and an app user flushing the data', async () => {
    const anon = new Redis({ port: stack.backends.redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableReadyCheck: false });
    await expect(anon.connect().then(() => anon.get('x'))).rejects.toThrow(/NOAUTH|NOPERM|auth/i);
    anon.disconnect();
    const app = new Redis(`redis://presence:${PASSWORDS.presence}@127.0.0.1:${stack.backends.redisPort}`, { maxRetriesPerRequest: 0 });
    await expect(app.flushall()).rejects.toThrow(/NOPERM/);
    await expect(app.config('GET', 'dir')).rejects.toThrow(/NOPERM/);
    app.disconnect();
  });
});
