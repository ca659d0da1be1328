import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { createRedis } from '../../libs/redis/redis.js';
import { freePort, until } from '../support/harness.js';
import { MASTER_NAME, RedisSentinelSet } from '../support/redis-sentinel.js';

jest.setTimeout(60_000);

/**
 * ioredis's private flag that its connector still wants the connect under way, read only to check
 * that the race below did happen (the detector cleared it mid-connect).
 */
const connectorWantsConnect = (c: Redis) => (c as unknown as { connector: { connecting: boolean } }).connector.connecting;

/**
 * ioredis's Sentinel connector, while reconnecting, asks the Sentinels for the primary; its failover
 * detector (still subscribed to +switch-master from the previous connection) disconnects the
 * connector when a failover completes. A disconnect that lands while a Sentinel is being asked
 * makes the connect throw "Connection is closed." and the client ends for good (status 'end'),
 * failing every later command. Left alone, +switch-master must land within a Sentinel round trip of
 * a reconnect; here the Sentinel asked first is paused (SIGSTOP: connections are accepted, nothing
 * answered) while the other two fail over, so the reconnect is still asking when +switch-master
 * arrives, every time.
 */
describe('a Sentinel client whose failover detector fires while a reconnect asks a Sentinel', () => {
  const set = new RedisSentinelSet(freePort);
  const clients: Redis[] = [];
  beforeAll(() => set.start());
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await set.stop();
  });

  it('createRedis connects again and answers; plain ioredis with the same options ends for good', async () => {
    const ours = createRedis(set.url, 'sentinel-detector') as Redis;
    // createRedis gives up on a Sentinel that does not answer within 2 s (redis-sentinel-hung.e2e.ts):
    // each wait on the paused Sentinel below would last 2 s, and whether the failover lands during
    // one would be left to timing. Lifted here (ioredis's connector reads the client's options at
    // each ask; the duplicate copies them), so the reconnect waits until the Sentinel is resumed.
    ours.options.sentinelCommandTimeout = undefined;
    // The same options, without what createRedis adds to the instance: the failure this guards.
    const plain = ours.duplicate();
    clients.push(ours, plain);
    const ended = new Set<Redis>();
    for (const c of clients) {
      c.on('error', () => undefined);
      c.on('end', () => ended.add(c));
    }
    // The detector subscribes to every Sentinel once connected; only then can it fire.
    await Promise.all(clients.map((c) => once(c, 'failoverSubscribed')));
    await ours.set('sentinel-detector', 'before');

    // Both clients asked the first Sentinel of the URL, so their reconnects ask it first again.
    set.pauseSentinel(0);
    await set.killData(0);
    const queued = ours.get('sentinel-detector').then(() => 'answered', (e: Error) => e.message);
    await until('the two other Sentinels to promote the replica', async () => {
      const addr = await set.ask(set.sentinels[1].port, (r) => r.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)).catch(() => null);
      return Array.isArray(addr) && Number(addr[1]) === set.data[1].port;
    }, 30_000, 100);
    // The race, held open: each reconnect still waits on the paused Sentinel, and the detector
    // has disconnected the connector under it.
    await until('both detectors to fire on +switch-master', () => clients.every((c) => c.status === 'connecting' && !connectorWantsConnect(c)), 10_000, 20);

    set.resumeSentinel(0);
    await until('both clients to end', () => clients.every((c) => ended.has(c)), 10_000, 20);

    // The end flushes ioredis's queue: a command waiting through the outage fails once, even in
    // createRedis's client; the undo only serves the commands after it.
    expect(await queued).toBe('Connection is closed.');

    // createRedis's client asks the Sentinels afresh and writes to the promoted primary.
    await until('our client to connect again', () => ours.status === 'ready', 10_000, 20);
    await ours.set('sentinel-detector', 'after');
    expect(await set.ask(set.data[1].port, (r) => r.get('sentinel-detector'))).toBe('after');
    // ioredis alone never leaves 'end': every command fails at once.
    expect(plain.status).toBe('end');
    await expect(plain.ping()).rejects.toThrow('Connection is closed.');
  });
});
