import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the nats-server that `npm start` runs keeps its JetStream data: in the project (git-ignored)
 * so that the audit trail survives restarts, not in a new temporary folder each time.
 * NATS_STORE_DIR moves it; `npm run reset` empties it.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DEFAULT_NATS_STORE = join(root, '.data', 'nats');

export function natsStoreDir(env: Record<string, string | undefined> = process.env): string {
  return env.NATS_STORE_DIR ? resolve(env.NATS_STORE_DIR) : DEFAULT_NATS_STORE;
}

/** The store folder, created when missing. */
export function ensureNatsStore(env: Record<string, string | undefined> = process.env): string {
  const dir = natsStoreDir(env);
  mkdirSync(dir, { recursive: true });
  return dir;
}
