import type { NatsConnection } from '@nats-io/transport-node';
import { QuerySubjects, type ManagerInfo, type PresenceDebug, type PresenceMap, type UserPresence } from '#libs/contracts/index.js';
import { json, relative, request, section, table, type Output } from './common.js';

/** debug, users, user, managers: the system's present state, read from the services. */

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

export async function debug(nc: NatsConnection, asJson: boolean): Promise<Output> {
  const [d, m] = await Promise.all([
    request<PresenceDebug>(nc, QuerySubjects.debug, undefined, 'presence'),
    request<{ managers: ManagerInfo[] }>(nc, QuerySubjects.managers, undefined, 'stream-workers'),
  ]);
  if (asJson) return { out: json({ ...d, managers: m.managers }), code: 0 };
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

export async function users(nc: NatsConnection, asJson: boolean): Promise<Output> {
  const { users: all } = await request<{ users: PresenceMap }>(nc, QuerySubjects.users, undefined, 'presence');
  if (asJson) return { out: json(all), code: 0 };
  const rows = Object.entries(all)
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

export async function user(nc: NatsConnection, userId: string, asJson: boolean): Promise<Output> {
  const u = await request<UserPresence>(nc, QuerySubjects.user, { userId }, 'presence');
  if (asJson) return { out: json(u), code: 0 };
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

export async function managers(nc: NatsConnection, asJson: boolean): Promise<Output> {
  const { managers: all } = await request<{ managers: ManagerInfo[] }>(nc, QuerySubjects.managers, undefined, 'stream-workers');
  return { out: asJson ? json(all) : managersTable(all), code: 0 };
}
