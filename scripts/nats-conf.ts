import { join } from 'node:path';
import { natsConf } from '#libs/nats/nats-conf.js';
import { helpRequested, writeOrCheck } from './cli.js';

/**
 * Writes deploy/nats/nats.conf from libs/nats/permissions.ts (`npm run nats-conf`); with `--check`,
 * exits 1 when the file on disk differs from what would be written.
 */
if (helpRequested(process.argv.slice(2))) {
  process.stdout.write('usage: npm run nats-conf [-- --check]\n  writes deploy/nats/nats.conf from libs/nats/permissions.ts; --check: exit 1 when it is not current\n');
  process.exit(0);
}
const file = join(import.meta.dirname, '..', '..', 'deploy', 'nats', 'nats.conf');
const text = natsConf();
writeOrCheck(file, text, process.argv.includes('--check'), 'deploy/nats/nats.conf', 'npm run nats-conf');
