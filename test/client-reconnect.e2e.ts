import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connectPresence } from '../packages/client/src/index.js';
import { Stack, runScript, uniqueUser, until } from './support/harness.js';

jest.setTimeout(90_000);

/*
 * The path socket.io-client never retries: the gateway ends the connection itself
 * (`io server disconnect`). Here an operator ends the user's sessions and keeps them out a while;
 * the SDK says why, waits out the block the gateway named, and comes back by itself.
 */
const BLOCK_MS = 4000;
const stack = new Stack({ env: { END_SESSIONS_BLOCK_MS: String(BLOCK_MS) } });
beforeAll(async () => {
  await stack.start();
  await stack.firstResync();
});
afterAll(() => stack.stop());

describe('the client SDK after the gateway ended its session', () => {
  it('reports the reason, does not knock before the block ends, then reconnects and is online again', async () => {
    const user = uniqueUser('sdk-ended');
    const client = connectPresence(stack.gateway.url, { token: await stack.token(user), socket: { transports: ['websocket'] } }).watch();
    const statuses: Array<{ status: string; detail?: string; at: number }> = [];
    client.on('status', (status, detail) => statuses.push({ status, detail, at: Date.now() }));
    try {
      await until('connected, manager running', () => client.status === 'connected' && client.manager?.state === 'running');
      const r = await runScript('inspect', ['end-sessions', user, '--reason', 'maintenance', '--by', 'ops-ann'], { NATS_URL: stack.backends.natsUrlAs('ops-ann') }, 60_000);
      expect(r.code).toBe(0);
      const ended = await until('disconnected by the gateway', () => statuses.find((s) => s.status === 'disconnected'));
      expect(ended.detail).toBe('ended_by_operator');
      const back = await until('connected again', () => statuses.find((s) => s.status === 'connected' && s.at > ended.at), 30_000);
      // Never refused on the way: the SDK waited for the block to end instead of knocking.
      expect(statuses.filter((s) => s.status === 'refused')).toEqual([]);
      expect(back.at - ended.at).toBeGreaterThanOrEqual(BLOCK_MS - 1000);
      await until('online again in the list', () => client.users()[user]?.metas.length === 1);
      const [left] = stack.observer.on(`presence.session.${user}.left`);
      expect(left.data.reason).toBe('closed');
    } finally {
      client.close();
    }
  });
});
