/*
 * A consumer of the packed SDK, written once and run as ESM (.mjs) and CommonJS (.cjs) in a
 * project holding nothing but the tarball. It prints one JSON line per event and obeys commands on
 * stdin ("hidden", "logout"), so the test drives a real gateway through it.
 * Kept as a template: the test writes it out with the import line of each module system.
 */
export const probeBody = `
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const presence = connectPresence(process.env.GATEWAY_URL, { token: process.env.TOKEN, page: '/dashboard/sdk', socket: { transports: ['websocket'] } }).watch();
presence.on('status', (status, detail) => out({ ev: 'status', status, detail: detail ?? null }));
presence.on('manager', (m) => out({ ev: 'manager', state: m.state }));
presence.on('sync', () => out({ ev: 'users', users: Object.fromEntries(Object.entries(presence.users()).map(([u, p]) => [u, p.metas.map((m) => m.status)])) }));
let buffer = '';
process.stdin.on('data', async (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\\n')) >= 0) {
    const cmd = buffer.slice(0, i).trim();
    buffer = buffer.slice(i + 1);
    if (cmd === 'hidden') out({ ev: 'ack', answer: await presence.setStatus('hidden') });
    if (cmd === 'logout') {
      await presence.logout();
      out({ ev: 'bye', status: presence.status });
      process.exit(0);
    }
  }
});
`;

/** What a TypeScript user writes: checked with tsc against the package's declarations (ESM and CommonJS). */
export const typedConsumer = `
import { connectPresence, type ManagerStateEvent, type PresenceMap, type SessionStatus } from '@presence-lifecycle/client';
import { usePresence } from '@presence-lifecycle/client/react';
const presence = connectPresence('http://localhost:3000', { token: 'x' }).watch();
const status: 'connecting' | 'connected' | 'disconnected' | 'refused' = presence.status;
const manager: ManagerStateEvent | null = presence.manager;
const users: PresenceMap = presence.users();
const tab: SessionStatus | undefined = users['alice']?.metas[0]?.status;
presence.on('manager', (m) => m.state === 'stopping' && m.cleanupAt?.length);
// @ts-expect-error: not a tab status
void presence.setStatus('asleep');
export { status, manager, tab, usePresence };
`;
