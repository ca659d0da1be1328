/**
 * REDIS_URL, read in one place. Three forms, one code path chosen by the URL:
 * - `redis://[user:pw@]host:port[/db]` or `rediss://…`: one server;
 * - `redis-sentinel://[user:pw@]host:port[,host:port…]/<masterName>`: the primary that these
 *   Sentinels name, followed through failovers (the credentials are the data nodes');
 * - `redis-cluster://[user:pw@]host:port[,host:port…]`: a Redis Cluster.
 * A bad value throws RedisUrlError with one line saying what is wrong.
 */
export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'server'; url: string; tls: boolean }
  | { kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; username?: string; password?: string }
  | { kind: 'cluster'; nodes: RedisNode[]; username?: string; password?: string };

export class RedisUrlError extends Error {}

const MULTI = /^(redis-sentinel|redis-cluster):\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/([^?#]*))?$/;

export function parseRedisUrl(raw: string): RedisTarget {
  const multi = MULTI.exec(raw);
  if (multi) {
    const [, scheme, auth, hosts, path = ''] = multi;
    const sentinel = scheme === 'redis-sentinel';
    const nodes = hosts.split(',').map((h) => node(h.trim(), sentinel ? 26379 : 6379, raw));
    const creds = credentials(auth);
    if (sentinel) {
      if (!/^[A-Za-z0-9._-]+$/.test(path)) {
        throw new RedisUrlError(`REDIS_URL redis-sentinel:// must end with /<masterName> (letters, digits, . _ -), got "${redact(raw)}"`);
      }
      return { kind: 'sentinel', sentinels: nodes, masterName: path, ...creds };
    }
    if (path !== '') throw new RedisUrlError(`REDIS_URL redis-cluster:// takes no path (a cluster has one database), got "${redact(raw)}"`);
    return { kind: 'cluster', nodes, ...creds };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RedisUrlError(`REDIS_URL must be a URL like redis://127.0.0.1:6379, got "${redact(raw)}"`);
  }
  if (!['redis:', 'rediss:'].includes(url.protocol) || !url.hostname) {
    throw new RedisUrlError(`REDIS_URL must be a URL with scheme redis:, rediss:, redis-sentinel: or redis-cluster: and a host, got "${redact(raw)}"`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new RedisUrlError(`REDIS_URL's path must be a database number (redis://host:6379/2), got "${redact(raw)}"`);
  }
  return { kind: 'server', url: raw, tls: url.protocol === 'rediss:' };
}

function node(hostPort: string, defaultPort: number, raw: string): RedisNode {
  // host, host:port, [v6], [v6]:port
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(hostPort);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new RedisUrlError(`REDIS_URL lists "${hostPort}", which is not host:port, in "${redact(raw)}"`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function credentials(auth: string | undefined): { username?: string; password?: string } {
  if (!auth) return {};
  const i = auth.indexOf(':');
  // redis://:pw@host is the password-only form; redis://user@host names a user without a password.
  const user = decodeURIComponent(i < 0 ? auth : auth.slice(0, i));
  const password = i < 0 ? undefined : decodeURIComponent(auth.slice(i + 1));
  return { ...(user ? { username: user } : {}), ...(password ? { password } : {}) };
}

/** REDIS_URL safe to print: credentials removed. */
export function redact(raw: string): string {
  return raw.replace(/^([a-z-]+:\/\/)[^@/]*@/, '$1***@');
}
