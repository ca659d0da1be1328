import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import type { MetaPatch } from '../../../libs/contracts/presence-diff.js';
import type { ManagerStateEvent, SessionMeta } from '../../../libs/contracts/presence-types.js';
import type { ClientToServerEvents, ConsoleLogEvent, ServerToClientEvents, SessionEvent } from '../../../libs/contracts/socket-events.js';

export type ConnectionStatus = 'connecting' | 'connected' | 'disconnected' | 'refused';
export type PresenceSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface PresenceOptions {
  /** A JWT for the gateway (its `sub` is the user). */
  token: string;
  /** The dashboard page of this session, a path under /dashboard (default /dashboard). */
  page?: string;
  /** In a browser, send the tab's status from the Page Visibility API and an idle timer (default true). */
  trackActivity?: boolean;
  /** No input for this long makes the tab `idle` (default 60 s). */
  idleMs?: number;
  /** Passed to socket.io-client (e.g. `transports: ['websocket']`). */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** Makes the socket; tests give a fake. Default: socket.io-client's `io`. */
  connect?: (url: string, opts: Partial<ManagerOptions & SocketOptions>) => PresenceSocket;
}

export interface PresenceEvents {
  /** The connection changed; `detail` says why (a disconnect or refusal reason). */
  status: (status: ConnectionStatus, detail?: string) => void;
  manager: (manager: ManagerStateEvent) => void;
  /** This tab's session (again when the gateway gives it a new one). */
  session: (session: SessionEvent) => void;
  /** One ConsoleLogger tick of the user's manager (after watchConsole()). */
  console: (tick: ConsoleLogEvent) => void;
  /** After watch(): a user's last session left and their manager stops at `cleanupAt` (null: not any more). */
  grace: (userId: string, cleanupAt: string | null) => void;
  /** Phoenix's onSync: the list changed (after watch()). */
  sync: () => void;
  /** Phoenix's onJoin: a user's metas joined (`current`: the user before, if present). */
  join: (userId: string, current: { metas: SessionMeta[] } | undefined, joined: { metas: SessionMeta[] }) => void;
  /** Phoenix's onLeave: a user's metas left (`current`: what remains). */
  leave: (userId: string, current: { metas: SessionMeta[] }, left: { metas: MetaPatch[] }) => void;
}
