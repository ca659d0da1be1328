/**
 * @presence-lifecycle/client: the typed client of the presence gateway's Socket.IO contract.
 *
 *   const presence = connectPresence('http://localhost:3000', { token }).watch();
 *   presence.on('manager', (m) => console.log(m.state));
 *   presence.on('sync', () => console.log(Object.keys(presence.users())));
 */
export { RETRY_MAX_MS, RETRY_MIN_MS } from './backoff.js';
export { connectPresence, PresenceClient, type ConnectionStatus, type PresenceEvents, type PresenceOptions, type PresenceSocket } from './client.js';
export { applyDiff, phxRef, PresenceList, syncState, type MetaPatch, type PresenceDiff, type PresenceHooks } from '../../../libs/contracts/presence-diff.js';
export { MANAGER_STATES, SESSION_STATUSES, type ManagerState, type ManagerStateEvent, type PresenceMap, type SessionMeta, type SessionStatus } from '../../../libs/contracts/presence-types.js';
export type { Ack, ClientToServerEvents, ConsoleLogEvent, GraceEvent, ServerToClientEvents, SessionEndedEvent, SessionEvent } from '../../../libs/contracts/socket-events.js';
