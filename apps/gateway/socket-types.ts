import type { Namespace, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '#libs/contracts/index.js';

/** What the gateway keeps on each socket once its handshake is authenticated. */
export interface SocketData {
  userId: string;
  name?: string;
  page: string;
  expiresAt?: number;
  sessionId: string;
}

/** The /presence namespace and its sockets, typed by the contract's event maps: an emit of a wrong payload does not compile. */
export type PresenceNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type PresenceSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
