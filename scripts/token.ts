/**
 * npm run token -- <userId> [--name "Ada"] [--ttl 12h]
 * Prints a client token for that user, signed with AUTH_JWT_SECRET.
 */
import { ConfigError, loadConfig } from '#libs/config/index.js';
import { USER_ID_RE } from '#libs/contracts/index.js';
import { signToken } from '#libs/auth/index.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const name = flag('name');
const ttl = flag('ttl') ?? '24h';
const userId = args[0];

if (!userId || !USER_ID_RE.test(userId)) {
  process.stderr.write('usage: npm run token -- <userId> [--name NAME] [--ttl 24h]   (userId: ^[A-Za-z0-9_-]{1,64}$)\n');
  process.exit(2);
}
try {
  const config = loadConfig();
  process.stdout.write(`${await signToken(config.authJwtSecret, userId, { name, expiresIn: ttl })}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? 'configuration error: ' : ''}${(err as Error).message}\n`);
  process.exit(1);
}
