import type { NatsConnection } from '@nats-io/transport-node';
import { AdminSubjects, type AdminResult } from '#libs/contracts/index.js';
import { json, request, table, type Output } from './common.js';

/** The operator's actions: each one answered by one presence replica, and audited there. */

export type AdminCommand =
  | { name: 'stop'; userId: string }
  | { name: 'end-sessions'; userId: string; now: boolean; reason?: string }
  | { name: 'purge-gateway'; gatewayId: string; force: boolean };

function requestOf(cmd: AdminCommand, by: string | undefined): { subject: string; body: Record<string, unknown> } {
  switch (cmd.name) {
    case 'stop':
      return { subject: AdminSubjects.stop, body: { userId: cmd.userId, by } };
    case 'end-sessions':
      return { subject: AdminSubjects.endSessions, body: { userId: cmd.userId, now: cmd.now, reason: cmd.reason, by } };
    case 'purge-gateway':
      return { subject: AdminSubjects.purgeGateway, body: { gatewayId: cmd.gatewayId, force: cmd.force, by } };
  }
}

export async function admin(nc: NatsConnection, cmd: AdminCommand, by: string | undefined, asJson: boolean): Promise<Output> {
  const { subject, body } = requestOf(cmd, by);
  // Ending sessions waits for the gateways to close them: longer than a query.
  const r = await request<AdminResult>(nc, subject, body, 'presence', 15_000);
  const code = r.outcome === 'refused' ? 1 : 0;
  if (asJson) return { out: json(r), code };
  const extra = r.users?.length ? table(['USER'], r.users.map((u) => [u])) : '';
  return { out: `${r.outcome.toUpperCase()}: ${r.message}\n${extra}`, code };
}
