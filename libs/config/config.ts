import { hostname } from 'node:os';
import { parseRedisUrl } from '#libs/redis/redis-url.js';
import { loadSecurityConfig, type SecurityConfig } from './security.js';

export { DEV_JWT_SECRET } from './security.js';

/**
 * The whole configuration, read once from the environment and validated. A bad value stops the
 * app at start with one line naming the variable and what it expects (ConfigError).
 */
export interface AppConfig extends SecurityConfig {
  nodeEnv: string;
  /** Anything but NODE_ENV=development: production rules (secrets required, JSON logs). */
  production: boolean;
  natsUrl: string;
  redisUrl: string;
  gatewayPort: number;
  presencePort: number;
  streamWorkersPort: number;
  cleanupTimeoutMs: number;
  cleanupTimeoutLostMs: number;
  cleanupTimeoutLogoutMs: number;
  gatewayTtlMs: number;
  workerTtlMs: number;
  consoleLoggerIntervalMs: number;
  instanceId: string;
  logLevel: LogLevelName;
  /** Socket.IO ping period and timeout: a vanished client is detected within their sum. */
  socketPingIntervalMs: number;
  socketPingTimeoutMs: number;
  maxSessionsPerUser: number;
  /** Largest Socket.IO message a client may send; a bigger one cuts its connection. */
  socketMaxPayloadBytes: number;
  /** Per-socket event budget: a bucket of `socketEventBurst` refilled at `socketEventRate` per second. */
  socketEventRate: number;
  socketEventBurst: number;
  /** Per-client-address handshake budget, the same way. */
  handshakeRate: number;
  handshakeBurst: number;
  /** How long the JetStream audit stream keeps lifecycle events. */
  eventsMaxAgeMs: number;
  /** After an operator ends a user's sessions, how long that user's new tabs are refused. */
  endSessionsBlockMs: number;
  /** Replicas of the project's JetStream stream(s), reconciled at start (3 on a 3-node cluster). */
  eventsReplicas: number;
  /** The stream's size bound: the oldest events go first past it. */
  eventsMaxBytes: number;
  /** Events kept per subject (per user and kind): one user cannot fill the stream. */
  eventsMaxMsgsPerSubject: number;
  /** How long an offline user's Redis state (epoch, offlineAt) is kept before it expires. */
  userStateTtlMs: number;
  /** Managers one worker may hand over per second to even out the load across workers; 0: never. */
  placementMovesPerS: number;
  /** Prefix of every Redis key of this system (BullMQ's included). */
  redisPrefix: string;
  faultInjection: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'info', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(`${name} must be a positive integer (milliseconds or count), got "${raw}"`);
  }
  return Number(raw);
}

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(`${name} must be a whole number, 0 or more, got "${raw}"`);
  }
  return Number(raw);
}

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < 0 || n > 65535) {
    throw new ConfigError(`${name} must be a TCP port between 0 and 65535, got "${raw}"`);
  }
  return n;
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const raw = env[name] || fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL like ${fallback}, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol) || !parsed.hostname) {
    throw new ConfigError(`${name} must be a URL with scheme ${protocols.join(' or ')} and a host, got "${raw}"`);
  }
  return raw;
}

/**
 * NATS_URL: one server or a comma-separated list of a cluster's servers. Each entry is checked
 * on its own, so the error names the bad one; credentials, where given, must be the same on all
 * (the client has one identity, whichever server it reaches).
 */
function natsUrls(env: Env): string {
  const raw = env.NATS_URL || 'nats://127.0.0.1:4222';
  const entries = raw.split(',').map((e) => e.trim());
  if (entries.some((e) => e === '')) {
    throw new ConfigError(`NATS_URL must be a URL or a comma-separated list of URLs like nats://n1:4222,nats://n2:4222, got "${raw}" (an empty entry)`);
  }
  const auth = new Set<string>();
  for (const entry of entries) {
    url({ NATS_URL: entry }, 'NATS_URL', 'nats://127.0.0.1:4222', ['nats:', 'tls:']);
    const u = new URL(entry);
    if (u.username || u.password) auth.add(`${u.username}:${u.password}`);
  }
  if (auth.size > 1) throw new ConfigError('NATS_URL must give the same user:password@ to every server of the list (or to the first only)');
  return entries.join(',');
}

/** REDIS_URL in any of its forms, read by the one parser the apps connect with (libs/redis). */
function redisUrlOf(env: Env): string {
  const raw = env.REDIS_URL || 'redis://127.0.0.1:6379';
  try {
    parseRedisUrl(raw);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return raw;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const nodeEnv = env.NODE_ENV ?? '';
  const security = loadSecurityConfig(
    env,
    (name, fallback) => positiveInt(env, name, fallback),
    (message) => {
      throw new ConfigError(message);
    },
  );
  const production = !security.development;
  const cleanupTimeoutMs = positiveInt(env, 'CLEANUP_TIMEOUT_MS', 5000);
  const logLevel = (env.LOG_LEVEL || 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const redisUrl = redisUrlOf(env);
  const config: AppConfig = {
    ...security,
    nodeEnv,
    production,
    natsUrl: natsUrls(env),
    redisUrl,
    gatewayPort: port(env, 'GATEWAY_PORT', 3000),
    presencePort: port(env, 'PRESENCE_PORT', 3001),
    streamWorkersPort: port(env, 'STREAM_WORKERS_PORT', 3002),
    cleanupTimeoutMs,
    cleanupTimeoutLostMs: positiveInt(env, 'CLEANUP_TIMEOUT_LOST_MS', cleanupTimeoutMs),
    cleanupTimeoutLogoutMs: positiveInt(env, 'CLEANUP_TIMEOUT_LOGOUT_MS', cleanupTimeoutMs),
    gatewayTtlMs: positiveInt(env, 'GATEWAY_TTL_MS', 15000),
    workerTtlMs: positiveInt(env, 'WORKER_TTL_MS', 15000),
    consoleLoggerIntervalMs: positiveInt(env, 'CONSOLE_LOGGER_INTERVAL_MS', 1000),
    // One NATS subject token (it names subjects like presence.gateway.<id>.heartbeat): no dots.
    instanceId: env.INSTANCE_ID || `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 48)}-${process.pid}`,
    logLevel: logLevel as LogLevelName,
    socketPingIntervalMs: positiveInt(env, 'SOCKET_PING_INTERVAL_MS', 10000),
    socketPingTimeoutMs: positiveInt(env, 'SOCKET_PING_TIMEOUT_MS', 10000),
    maxSessionsPerUser: positiveInt(env, 'MAX_SESSIONS_PER_USER', 50),
    socketMaxPayloadBytes: positiveInt(env, 'SOCKET_MAX_PAYLOAD_BYTES', 16 * 1024),
    socketEventRate: positiveInt(env, 'SOCKET_EVENT_RATE', 10),
    socketEventBurst: positiveInt(env, 'SOCKET_EVENT_BURST', 30),
    handshakeRate: positiveInt(env, 'HANDSHAKE_RATE', 20),
    handshakeBurst: positiveInt(env, 'HANDSHAKE_BURST', 100),
    eventsMaxAgeMs: positiveInt(env, 'EVENTS_MAX_AGE_MS', 7 * 24 * 3600 * 1000),
    endSessionsBlockMs: positiveInt(env, 'END_SESSIONS_BLOCK_MS', 60_000),
    eventsReplicas: positiveInt(env, 'EVENTS_REPLICAS', 1),
    // 1 GiB, and 10,000 events per subject (a user's joins, an admin action's records): bounds that
    // a flood of forged or looping events cannot pass, far above what a real user makes in EVENTS_MAX_AGE_MS.
    eventsMaxBytes: positiveInt(env, 'EVENTS_MAX_BYTES', 1024 * 1024 * 1024),
    eventsMaxMsgsPerSubject: positiveInt(env, 'EVENTS_MAX_MSGS_PER_SUBJECT', 10_000),
    userStateTtlMs: positiveInt(env, 'USER_STATE_TTL_MS', 24 * 3600 * 1000),
    placementMovesPerS: nonNegativeInt(env, 'PLACEMENT_MOVES_PER_S', 5),
    redisPrefix: env.REDIS_PREFIX || 'pl',
    faultInjection: env.FAULT_INJECTION === '1' || env.FAULT_INJECTION === 'true',
  };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.instanceId)) {
    throw new ConfigError(`INSTANCE_ID must match ^[A-Za-z0-9_-]{1,64}$ (it is a NATS subject token), got "${config.instanceId}"`);
  }
  if (config.eventsReplicas > 5) {
    // JetStream's own limit: a stream has at most 5 replicas.
    throw new ConfigError(`EVENTS_REPLICAS must be between 1 and 5 (JetStream's limit), got "${env.EVENTS_REPLICAS}"`);
  }
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(config.redisPrefix)) {
    throw new ConfigError(`REDIS_PREFIX must match ^[A-Za-z0-9_-]{1,32}$, got "${config.redisPrefix}"`);
  }
  return config;
}

/** Grace period of a user's last leave, by its reason. */
export function cleanupTimeoutFor(config: AppConfig, reason: string): number {
  if (reason === 'lost') return config.cleanupTimeoutLostMs;
  if (reason === 'logout') return config.cleanupTimeoutLogoutMs;
  return config.cleanupTimeoutMs;
}
