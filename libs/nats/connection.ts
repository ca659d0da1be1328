import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';

/**
 * NATS_URL may carry credentials (nats://user:pass@host:4222) and TLS (tls://host:4222), and may
 * list a cluster's servers separated by commas (libs/config checked them). The client is given
 * every server, so it connects while any one answers; credentials and TLS are read from the
 * first entry that has them. They go in as options, so the password never shows in server lists or logs.
 * `credsFile` (NATS_CREDS): authenticate with a `.creds` file instead.
 */
export function natsConnectionOptions(natsUrl: string, name: string, credsFile?: string, inboxPrefix?: string): ConnectionOptions {
  const urls = natsUrl.split(',').map((e) => new URL(e.trim()));
  const url = urls.find((u) => u.username || u.password) ?? urls[0];
  const tls = urls.some((u) => u.protocol === 'tls:');
  const servers = urls.map((u) => `${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || 4222}`);
  const opts: ConnectionOptions = {
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
    maxPingOut: 3,
    waitOnFirstConnect: false,
    // Otherwise every request and JetStream publish builds two Error objects up front, for a stack
    // trace that only a failure would show: ~4% of the gateway's CPU per join (bench/, issue 5).
    noAsyncTraces: true,
  };
  if (url.username) opts.user = decodeURIComponent(url.username);
  if (url.password) opts.pass = decodeURIComponent(url.password);
  if (url.username && !url.password) {
    // nats://<token>@host is the NATS convention for token auth.
    delete opts.user;
    opts.token = decodeURIComponent(url.username);
  }
  if (tls) opts.tls = {};
  // A .creds file (a user JWT and its nkey seed, as `nsc` writes them) instead of a password.
  if (credsFile) opts.authenticator = credsAuthenticator(readFileSync(credsFile));
  // A role's own inbox prefix (libs/nats/permissions.ts): the replies it asked for, nobody else's.
  if (inboxPrefix) opts.inboxPrefix = inboxPrefix;
  return opts;
}

/** URL (or comma-separated list of URLs) safe to print: credentials removed. */
export function redactUrl(raw: string): string {
  if (raw.includes(',')) return raw.split(',').map((e) => redactUrl(e.trim())).join(',');
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

export async function connectNats(natsUrl: string, name: string, timeoutMs = 5000, credsFile?: string, inboxPrefix?: string): Promise<NatsConnection> {
  return connect({ ...natsConnectionOptions(natsUrl, name, credsFile, inboxPrefix), timeout: timeoutMs });
}
