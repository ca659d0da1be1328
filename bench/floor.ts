import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '#libs/nats/connection.js';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { summarize, type Summary } from './stats.js';

export interface Floor {
  natsRequest: Summary;
  jetstreamPublish: Summary;
  redisPing: Summary;
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(100, n); i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/**
 * The floor under every number of the system: one bare NATS request/reply (two connections, as
 * between two apps), one JetStream-acknowledged publish (file storage, like the session events),
 * one Redis PING, each sequential, on the bench's own servers.
 */
export async function measureFloor(natsUrl: string, redisUrl: string, n: number): Promise<Floor> {
  const responder = await connect(natsConnectionOptions(natsUrl, 'bench-floor-responder'));
  const requester = await connect(natsConnectionOptions(natsUrl, 'bench-floor-requester'));
  responder.subscribe('bench.floor.echo', { callback: (_e, m) => void m.respond(m.data) });
  await responder.flush();
  const natsRequest = summarize(await timed(n, () => requester.request('bench.floor.echo', 'x', { timeout: 5000 })));

  const jsm = await jetstreamManager(requester);
  await jsm.streams.add({ name: 'BENCH_FLOOR', subjects: ['bench.floor.js'], storage: StorageType.File, max_msgs: 10_000 });
  const js = jetstream(requester);
  let k = 0;
  const jetstreamPublish = summarize(await timed(n, () => js.publish('bench.floor.js', 'x', { msgID: `floor-${++k}` })));
  await jsm.streams.delete('BENCH_FLOOR');

  const redis = new Redis(redisUrl, { lazyConnect: false });
  const redisPing = summarize(await timed(n, () => redis.ping()));
  redis.disconnect();
  await responder.close();
  await requester.close();
  return { natsRequest, jetstreamPublish, redisPing };
}
