/**
 * Node/V8 flags each app is started with: by `npm start`, the tests, the bench and
 * docker-compose.yml (libs/config/compose.spec.ts holds the compose file to this).
 *
 * presence: a 32 MiB semi-space (V8's default caps it at 16 MiB on 64-bit). In a mass leave
 * presence allocates per event (NATS message, zod parse, ioredis command, BullMQ job) and holds
 * each for a Redis round trip or more; GC was 18 % of its CPU in a profile, and the larger young
 * generation cut the cleanup lateness by a fifth or more (docs/BENCHMARKS.md, session 10). Not for the
 * workers: their young generation stays committed while 10,000 managers tick, and that is RSS per
 * manager (a 4 MiB semi-space made it 14 KiB; bench/).
 */
export const APP_NODE_FLAGS = {
  gateway: [],
  presence: ['--max-semi-space-size=32'],
  'stream-workers': [],
} as const satisfies Record<'gateway' | 'presence' | 'stream-workers', readonly string[]>;
