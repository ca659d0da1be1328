/**
 * npm run asyncapi [-- --check]
 * Writes docs/asyncapi.json, the AsyncAPI 3 document generated from the zod schemas.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asyncApiDocument } from '#libs/contracts/asyncapi.js';
import { helpRequested, writeOrCheck } from './cli.js';

const USAGE = `usage: npm run asyncapi [-- --check]
  writes docs/asyncapi.json: the AsyncAPI 3 document of the NATS subjects and socket events, from the zod schemas
  --check: write nothing; exit 1 if the checked-in document is not current`;

const args = process.argv.slice(2);
if (helpRequested(args)) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const unknown = args.find((a) => a !== '--check');
if (unknown) {
  process.stderr.write(`unknown option "${unknown}"\n${USAGE}\n`);
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const path = join(root, 'docs', 'asyncapi.json');
const text = `${JSON.stringify(asyncApiDocument(pkg.version), null, 2)}\n`;
writeOrCheck(path, text, args.includes('--check'), 'docs/asyncapi.json', 'npm run asyncapi');
