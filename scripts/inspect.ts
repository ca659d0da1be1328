/**
 * npm run inspect -- <command>: the system as tables, over NATS (the equivalents of the seed's
 * PresenceHelper.debug(), list_presence() and get_managed_users()), a user's history from the audit
 * stream, and the admin actions. Only NATS_URL and NATS_CREDS are read; exit 0 on success, 1 when
 * NATS or a service does not answer or an action is refused, 2 on bad arguments.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions, redactUrl } from '#libs/nats/connection.js';
import { USER_ID_RE } from '#libs/contracts/index.js';
import { Failure, parseSince, type Output } from './inspect/common.js';
import { debug, managers, user, users } from './inspect/queries.js';
import { history } from './inspect/history.js';
import { admin, operatorName, type AdminCommand } from './inspect/admin.js';
import { helpRequested } from './cli.js';

const USAGE = `usage: npm run inspect -- <command> [--json]
  debug                       stats, managers, pending cleanups, gateways and workers alive
  users                       who is online, with their sessions (list_presence)
  user <userId>               one user's sessions, pending cleanup and manager
  managers                    every running manager and its components (get_managed_users)
  history <userId> [--since 1h] [--limit N]
  history --all [--since 10m] [--limit N]
                              the lifecycle from the audit stream, oldest first: time, event,
                              reason or cause, session, gateway or worker, operator of admin actions
                              (--since: 30s, 10m, 1h, 7d or an ISO time; --json: [{at, subject, ...}])
  stop <userId> [--by NAME]   end the user's manager now (audited; refused while they have sessions)
  end-sessions <userId> [--now] [--reason TEXT] [--by NAME]
                              end every session of a present user on every gateway (audited): tabs
                              are told why and kept out for END_SESSIONS_BLOCK_MS; the manager stops
                              after its grace, or at once with --now
  purge-gateway <gatewayId> [--force] [--by NAME]
                              end the sessions of a dead gateway now (audited; refused while it
                              answers, unless --force: then its sessions end even though it is alive)
admin actions run as the operator NATS authenticates (--by NAME: the NATS user's name, default the
user of NATS_URL); NATS refuses a name that is not the connection's own
environment: NATS_URL (default nats://127.0.0.1:4222; operator:<password>@ for admin actions),
  NATS_CREDS (a .creds file instead of the password)`;

type Command =
  | { name: 'debug' | 'users' | 'managers' }
  | { name: 'user'; userId: string }
  | { name: 'history'; userId?: string; since?: Date; limit?: number }
  | AdminCommand;

const VALUE_FLAGS = ['--by', '--since', '--reason', '--limit'] as const;
const BOOLEAN_FLAGS = ['--json', '--all', '--now', '--force'] as const;

interface Parsed {
  cmd: Command;
  by?: string;
  json: boolean;
}

function userIdArg(v: string): string {
  if (!USER_ID_RE.test(v)) throw new Failure(`"${v}" is not a user id (^[A-Za-z0-9_-]{1,64}$)`, 2);
  return v;
}

function parseArgs(argv: string[]): Parsed {
  const values: Partial<Record<(typeof VALUE_FLAGS)[number], string>> = {};
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if ((VALUE_FLAGS as readonly string[]).includes(a)) {
      const v = argv[++i];
      if (v === undefined || v === '') throw new Failure(`${a} needs a value`, 2);
      values[a as (typeof VALUE_FLAGS)[number]] = v;
    } else if ((BOOLEAN_FLAGS as readonly string[]).includes(a)) flags.add(a);
    else if (a.startsWith('--')) throw new Failure(`unknown option "${a}"`, 2);
    else positional.push(a);
  }
  const [name, ...rest] = positional;
  const arity = (n: number) => {
    if (rest.length !== n) throw new Failure(`${name} takes ${n === 0 ? 'no argument' : 'one argument'}`, 2);
  };
  const allowed = (...ok: string[]) => {
    const stray = [...flags, ...Object.keys(values)].filter((f) => f !== '--json' && !ok.includes(f));
    if (stray.length) throw new Failure(`${name} does not take ${stray.join(', ')}`, 2);
  };
  if (values['--by'] !== undefined && values['--by'].length > 64) throw new Failure('--by: at most 64 characters', 2);
  let cmd: Command;
  switch (name) {
    case 'debug':
    case 'users':
    case 'managers':
      arity(0);
      allowed();
      cmd = { name };
      break;
    case 'user':
      arity(1);
      allowed();
      cmd = { name, userId: userIdArg(rest[0]) };
      break;
    case 'history': {
      allowed('--all', '--since', '--limit');
      const all = flags.has('--all');
      if (all === (rest.length === 1) || rest.length > 1) throw new Failure('history takes a user id, or --all', 2);
      const since = values['--since'] === undefined ? undefined : parseSince(values['--since']);
      if (since === null) throw new Failure(`--since: "${values['--since']}" is neither a duration (30s, 10m, 1h, 7d) nor an ISO time`, 2);
      const limit = values['--limit'] === undefined ? undefined : Number(values['--limit']);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Failure('--limit: a positive integer', 2);
      cmd = { name, userId: all ? undefined : userIdArg(rest[0]), since, limit };
      break;
    }
    case 'stop':
      arity(1);
      allowed('--by');
      cmd = { name, userId: userIdArg(rest[0]) };
      break;
    case 'end-sessions':
      arity(1);
      allowed('--by', '--now', '--reason');
      if ((values['--reason']?.length ?? 0) > 200) throw new Failure('--reason: at most 200 characters', 2);
      cmd = { name, userId: userIdArg(rest[0]), now: flags.has('--now'), reason: values['--reason'] };
      break;
    case 'purge-gateway':
      arity(1);
      allowed('--by', '--force');
      cmd = { name, gatewayId: rest[0], force: flags.has('--force') };
      break;
    default:
      throw new Failure(name ? `unknown command "${name}"` : 'no command given', 2);
  }
  return { cmd, by: values['--by'], json: flags.has('--json') };
}

function run(nc: NatsConnection, { cmd, by, json }: Parsed): Promise<Output> {
  switch (cmd.name) {
    case 'debug':
      return debug(nc, json);
    case 'users':
      return users(nc, json);
    case 'managers':
      return managers(nc, json);
    case 'user':
      return user(nc, cmd.userId, json);
    case 'history':
      return history(nc, cmd, json);
    default:
      return admin(nc, cmd, operatorName(by, process.env.NATS_URL || ''), json);
  }
}

async function main(argv: string[]): Promise<number> {
  if (helpRequested(argv)) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const natsUrl = process.env.NATS_URL || 'nats://127.0.0.1:4222';
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectionOptions(natsUrl, `inspect:${process.pid}`, process.env.NATS_CREDS || undefined), maxReconnectAttempts: 0, timeout: 3000 });
  } catch (err) {
    process.stderr.write(`cannot reach NATS at ${redactUrl(natsUrl)} (${(err as Error).message}); set NATS_URL, or start it with: docker compose up -d nats\n`);
    return 1;
  }
  try {
    const { out, code } = await run(nc, parsed);
    process.stdout.write(out);
    return code;
  } catch (err) {
    if (err instanceof Failure) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    throw err;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

process.exitCode = await main(process.argv.slice(2));
