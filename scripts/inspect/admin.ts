import type { NatsConnection } from '@nats-io/transport-node';
import { operatorAdminSubject, type AdminResult } from '#libs/contracts/index.js';
import { json, request, table, type Output } from './common.js';

/** The operator's actions: each one answered by one presence replica, and audited there. */

export type AdminCommand =
  | { name: 'stop'; userId: string }
  | { name: 'end-sessions'; userId: string; now: boolean; reason?: string }
  | { name: 'purge-gateway'; gatewayId: string; force: boolean };

function requestOf(cmd: AdminCommand, by: string): { subject: string; body: Record<string, unknown> } {
  switch (cmd.name) {
    case 'stop':
      return { subject: operatorAdminSubject('stop', by), body: { userId: cmd.userId } };
    case 'end-sessions':
      return { subject: operatorAdminSubject('end_sessions', by), body: { userId: cmd.userId, now: cmd.now, reason: cmd.reason } };
    case 'purge-gateway':
      return { subject: operatorAdminSubject('purge_gateway', by), body: { gatewayId: cmd.gatewayId, force: cmd.force } };
  }
}

/**
 * The operator's name: --by, else the NATS user of NATS_URL, else `operator`. NATS lets an operator
 * user publish admin actions under its own name only, so a name that is not the connection's own
 * is refused by the server, never recorded.
 */
export function operatorName(by: string | undefined, natsUrl: string): string {
  if (by) return by;
  try {
    const user = decodeURIComponent(new URL(natsUrl.split(',')[0].trim()).username);
    if (user) return user;
  } catch {
    // NATS_URL was checked when connecting.
  }
  return 'operator';
}

export async function admin(nc: NatsConnection, cmd: AdminCommand, by: string, asJson: boolean): Promise<Output> {
  const { subject, body } = requestOf(cmd, by);
  // Ending sessions waits for the gateways to close them: longer than a query.
  const r = await request<AdminResult>(nc, subject, body, 'presence', 15_000);
  const code = r.outcome === 'refused' ? 1 : 0;
  if (asJson) return { out: json(r), code };
  const extra = r.users?.length ? table(['USER'], r.users.map((u) => [u])) : '';
  return { out: `${r.outcome.toUpperCase()}: ${r.message}\n${extra}`, code };
}
