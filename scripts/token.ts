/**
 * npm run token -- <userId> [--name "Ada"] [--ttl 12h]
 * Prints a client token for that user, signed with AUTH_JWT_SECRET.
 */
import { ConfigError, loadConfig } from '#libs/config/index.js';
import { USER_ID_RE } from '#libs/contracts/index.js';
import { signToken } from '#libs/auth/index.js';
import { helpRequested } from './cli.js';

const USAGE = `usage: npm run token -- <userId> [--name NAME] [--ttl 24h]
  prints a client token for that user (userId: ^[A-Za-z0-9_-]{1,64}$), signed with AUTH_JWT_SECRET
  (the development secret in development mode); --ttl: how long it is valid (30m, 12h, 7d)`;

const args = process.argv.slice(2);
if (helpRequested(args)) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
function refuse(why: string): never {
  process.stderr.write(`${why}\n${USAGE}\n`);
  process.exit(2);
}
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) refuse(`--${name} needs a value`);
  args.splice(i, 2);
  return v;
};
const name = flag('name');
const ttl = flag('ttl') ?? '24h';
const unknown = args.find((a) => a.startsWith('--'));
if (unknown) refuse(`unknown option "${unknown}"`);
if (args.length !== 1) refuse(args.length === 0 ? 'no user id given' : 'one user id only');
const userId = args[0];
if (!USER_ID_RE.test(userId)) refuse(`"${userId}" is not a user id`);
try {
  // Like npm start: development unless NODE_ENV says otherwise (a token signed with the development
  // secret is refused by any app outside development mode, so this opens nothing).
  const config = loadConfig({ ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'development' });
  process.stdout.write(`${await signToken(config.authJwtSecret, userId, { name, expiresIn: ttl })}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? 'configuration error: ' : ''}${(err as Error).message}\n`);
  process.exit(1);
}
