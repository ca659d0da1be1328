/**
 * npm run reset: empties the JetStream data that `npm start` keeps (the audit trail, the stream and
 * its consumers), for a fresh start. Refused while a NATS server answers at NATS_URL, since a
 * running server keeps those files open and would write them back.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { redactUrl } from '#libs/nats/connection.js';
import { helpRequested } from './cli.js';
import { natsStoreDir } from './nats-store.js';
import { probe } from './services.js';

const USAGE = `usage: npm run reset
  empties the JetStream data that npm start keeps in .data/nats (or NATS_STORE_DIR): the stream of
  lifecycle events (the audit trail) and its consumers. Stop npm start first.
environment: NATS_STORE_DIR, NATS_URL (default nats://127.0.0.1:4222)`;

/** nats-server's own layout under -sd: only this is ever removed, so a mistyped folder is left alone. */
const NATS_DATA = 'jetstream';

async function main(argv: string[]): Promise<number> {
  if (helpRequested(argv)) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`reset takes no argument\n${USAGE}\n`);
    return 2;
  }
  const dir = natsStoreDir();
  const rawUrl = process.env.NATS_URL || 'nats://127.0.0.1:4222';
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    process.stderr.write(`NATS_URL must be a URL like nats://127.0.0.1:4222, got "${rawUrl}"\n`);
    return 2;
  }
  if (await probe(url.hostname, Number(url.port || 4222))) {
    process.stderr.write(`a NATS server answers at ${redactUrl(rawUrl)}: stop it (Ctrl-C npm start) before emptying ${dir}\n`);
    return 1;
  }
  if (!existsSync(dir)) {
    process.stdout.write(`nothing to reset: ${dir} does not exist\n`);
    return 0;
  }
  const strangers = readdirSync(dir).filter((e) => e !== NATS_DATA);
  if (strangers.length > 0) {
    process.stderr.write(`${dir} holds more than nats-server's data (${strangers.slice(0, 5).join(', ')}): left alone; is NATS_STORE_DIR right?\n`);
    return 1;
  }
  rmSync(`${dir}/${NATS_DATA}`, { recursive: true, force: true });
  process.stdout.write(`emptied ${dir}: the next npm start begins with no history\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
