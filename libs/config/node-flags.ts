/**
 * Node/V8 flags each app is started with: by `npm start`, the tests, the bench and
 * docker-compose.yml (libs/config/compose.spec.ts holds the compose file to this).
 *
 * presence: a 32 MiB semi-space (V8's default caps it at 16 MiB on 64-bit). In a mass leave
 * presence allocates per event (NATS message, zod parse, ioredis command, BullMQ job) and holds
 * each for a Redis round trip or more, so a small young generation promotes short-lived objects and
 * GC takes the time cleanups need (docs/BENCHMARKS.md has the measurements). Not for the workers:
 * their young generation stays committed while thousands of managers tick, and that is RSS per
 * manager.
 */
export const APP_NODE_FLAGS = {
  gateway: [],
  presence: ['--max-semi-space-size=32'],
  'stream-workers': [],
} as const satisfies Record<'gateway' | 'presence' | 'stream-workers', readonly string[]>;
