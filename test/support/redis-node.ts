import { Redis } from 'ioredis';

/**
 * One command on a short-lived connection to one Redis node that never retries: the node may be
 * gone (a killed primary, a failover in progress), and a test asking it must hear so at once.
 */
export async function askNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}
