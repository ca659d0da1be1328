/**
 * npm run inspect -- <command>: the system as tables, over NATS (the equivalents of the seed's
 * PresenceHelper.debug(), list_presence() and get_managed_users(), plus the admin actions).
 * Only NATS_URL is read; exit 0 on success, 1 when NATS or a service does not answer or an
 * action is refused, 2 on bad arguments.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions, redactUrl } from '#libs/nats/connection.js';
import {
  AdminSubjects,
  QuerySubjects,
  USER_ID_RE,
  type AdminResult,
  type ManagerInfo,
  type PresenceDebug,
  type PresenceMap,
  type UserPresence,
} from '#libs/contracts/index.js';

const USAGE = `usage: npm run inspect -- <command> [--json]
  debug                     stats, managers, pending cleanups, gateways and workers alive
  users                     who is online, with their sessions (list_presence)
  user <userId>             one user's sessions, pending cleanup and manager
  managers                  every running manager and its components (get_managed_users)
  stop <userId> [--by NAME] end the user's manager now (audited; refused while they have sessions)
  purge-gateway <gatewayId> [--by NAME]
                            end the sessions of a dead gateway now (audited; refused if it answers)
environment: NATS_URL (default nats://127.0.0.1:4222)`;

class Failure extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** Columns padded to their widest cell; an empty table says so. */
export function table(headers: string[], rows: Array<Array<string | number>>, empty = '(none)'): string {
  if (rows.length === 0) return `${empty}\n`;
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n')}\n`;
}

const section = (title: string, body: string) => `${title}\n${body}\n`;

/** "in 1.2 s" / "3.4 s ago" relative to now. */
function relative(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = Date.parse(iso) - Date.now();
  const s = (Math.abs(d) / 1000).toFixed(1);
  return d >= 0 ? `in ${s} s` : `${s} s ago`;
}

function componentsText(m: ManagerInfo) {
  return m.components.map((c) => `${c.name}:${c.state}${c.restarts ? `(${c.restarts} restarts)` : ''}`).join(' ');
}

function managersTable(managers: ManagerInfo[]) {
  return table(
    ['USER', 'WORKER', 'STARTED', 'COMPONENTS'],
    managers.map((m) => [m.userId, m.workerId, `${m.startedAt} (${relative(m.startedAt)})`, componentsText(m)]),
    '(no manager running)',
  );
}

async function request<T>(nc: NatsConnection, subject: string, body: unknown, service: string): Promise<T> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, body === undefined ? '' : JSON.stringify(body), { timeout: 5000 });
  } catch (err) {
    const e = err as Error & { isNoResponders?: () => boolean };
    if (e.isNoResponders?.() || /no responders/i.test(String(e.message) + String((e as { cause?: unknown }).cause))) {
      throw new Failure(`nothing answers on ${subject}: is the ${service} app running?`);
    }
    throw new Failure(`${subject}: no answer from ${service} (${e.message})`);
  }
  const text = msg.string();
  const error = msg.headers?.get('Nats-Service-Error');
  if (error) throw new Failure(`${subject}: ${service} answered ${msg.headers?.get('Nats-Service-Error-Code') ?? ''} ${error}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Failure(`${subject}: ${service} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
}

type Command = { name: string; args: string[]; by?: string; json: boolean };

function parseArgs(argv: string[]): Command {
  const args = [...argv];
  const json = args.includes('--json');
  if (json) args.splice(args.indexOf('--json'), 1);
  let by: string | undefined;
  const byAt = args.indexOf('--by');
  if (byAt >= 0) {
    by = args[byAt + 1];
    if (!by) throw new Failure('--by needs a name', 2);
    args.splice(byAt, 2);
  }
  const [name, ...rest] = args;
  const arity: Record<string, number> = { debug: 0, users: 0, managers: 0, user: 1, stop: 1, 'purge-gateway': 1 };
  if (!name || !(name in arity)) throw new Failure(name ? `unknown command "${name}"` : 'no command given', 2);
  if (rest.length !== arity[name]) throw new Failure(`${name} takes ${arity[name] === 0 ? 'no argument' : 'one argument'}`, 2);
  if ((name === 'user' || name === 'stop') && !USER_ID_RE.test(rest[0])) throw new Failure(`"${rest[0]}" is not a user id (^[A-Za-z0-9_-]{1,64}$)`, 2);
  return { name, args: rest, by, json };
}

async function run(nc: NatsConnection, cmd: Command): Promise<{ out: string; code: number }> {
  const raw = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  switch (cmd.name) {
    case 'debug': {
      const [d, m] = await Promise.all([
        request<PresenceDebug>(nc, QuerySubjects.debug, undefined, 'presence'),
        request<{ managers: ManagerInfo[] }>(nc, QuerySubjects.managers, undefined, 'stream-workers'),
      ]);
      if (cmd.json) return { out: raw({ ...d, managers: m.managers }), code: 0 };
      const s = d.stats;
      const out = [
        section(
          'STATS',
          table(
            ['USERS', 'SESSIONS', 'VISIBLE', 'HIDDEN', 'IDLE', 'PENDING_CLEANUPS', 'MANAGERS'],
            [[s.users, s.sessions, s.byStatus.visible, s.byStatus.hidden, s.byStatus.idle, s.pendingCleanups, m.managers.length]],
          ),
        ),
        section('MANAGERS', managersTable(m.managers)),
        section(
          'PENDING CLEANUPS',
          table(['USER', 'RUN_AT', 'WHEN', 'REASON'], d.pendingCleanups.map((c) => [c.userId, c.runAt, relative(c.runAt), c.reason]), '(no cleanup pending)'),
        ),
        section(
          'GATEWAYS',
          table(['GATEWAY', 'ALIVE', 'LAST_SEEN', 'SESSIONS'], d.gateways.map((g) => [g.gatewayId, g.alive ? 'yes' : 'NO', relative(g.lastSeenAt), g.sessions]), '(no gateway)'),
        ),
        section('WORKERS', table(['WORKER', 'ALIVE', 'LAST_SEEN'], d.workers.map((w) => [w.workerId, w.alive ? 'yes' : 'NO', relative(w.lastSeenAt)]), '(no worker)')),
      ];
      return { out: out.join(''), code: 0 };
    }
    case 'users': {
      const { users } = await request<{ users: PresenceMap }>(nc, QuerySubjects.users, undefined, 'presence');
      if (cmd.json) return { out: raw(users), code: 0 };
      const rows = Object.entries(users)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([userId, { metas }]) => [
          userId,
          metas.length,
          [...new Set(metas.map((x) => x.status))].join(','),
          [...new Set(metas.map((x) => x.page))].join(','),
          metas.map((x) => x.joinedAt).sort()[0] ?? '-',
        ]);
      return { out: table(['USER', 'SESSIONS', 'STATUS', 'PAGES', 'SINCE'], rows, '(nobody online)'), code: 0 };
    }
    case 'user': {
      const u = await request<UserPresence>(nc, QuerySubjects.user, { userId: cmd.args[0] }, 'presence');
      if (cmd.json) return { out: raw(u), code: 0 };
      const head = table(
        ['USER', 'SESSIONS', 'CLEANUP_AT', 'MANAGER'],
        [[u.userId, u.metas.length, u.cleanupAt ? `${u.cleanupAt} (${relative(u.cleanupAt)})` : '-', u.manager ? `${u.manager.workerId} since ${u.manager.startedAt}` : '-']],
      );
      const sessions = table(
        ['SESSION', 'PAGE', 'STATUS', 'GATEWAY', 'JOINED'],
        u.metas.map((x) => [x.sessionId, x.page, x.status, x.gatewayId, x.joinedAt]),
        '(no session)',
      );
      return { out: `${head}\n${sessions}`, code: 0 };
    }
    case 'managers': {
      const { managers } = await request<{ managers: ManagerInfo[] }>(nc, QuerySubjects.managers, undefined, 'stream-workers');
      return { out: cmd.json ? raw(managers) : managersTable(managers), code: 0 };
    }
    case 'stop':
    case 'purge-gateway': {
      const subject = cmd.name === 'stop' ? AdminSubjects.stop : AdminSubjects.purgeGateway;
      const body = cmd.name === 'stop' ? { userId: cmd.args[0], by: cmd.by } : { gatewayId: cmd.args[0], by: cmd.by };
      const r = await request<AdminResult>(nc, subject, body, 'presence');
      const code = r.outcome === 'refused' ? 1 : 0;
      if (cmd.json) return { out: raw(r), code };
      const extra = r.users?.length ? table(['USER'], r.users.map((u) => [u])) : '';
      return { out: `${r.outcome.toUpperCase()}: ${r.message}\n${extra}`, code };
    }
  }
  throw new Failure(`unknown command "${cmd.name}"`, 2);
}

async function main(): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const natsUrl = process.env.NATS_URL || 'nats://127.0.0.1:4222';
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectionOptions(natsUrl, `inspect:${process.pid}`), maxReconnectAttempts: 0, timeout: 3000 });
  } catch (err) {
    process.stderr.write(`cannot reach NATS at ${redactUrl(natsUrl)} (${(err as Error).message}); set NATS_URL, or start it with: docker compose up -d nats\n`);
    return 1;
  }
  try {
    const { out, code } = await run(nc, cmd);
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

process.exitCode = await main();
