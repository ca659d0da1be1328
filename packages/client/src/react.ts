import { useEffect, useState } from 'react';
import { connectPresence, type ConnectionStatus, type PresenceOptions } from './client.js';
import type { ManagerStateEvent, PresenceMap } from '../../../libs/contracts/presence-types.js';

export interface PresenceState {
  status: ConnectionStatus;
  /** The user's stream manager, as last heard (null until the first `manager` event). */
  manager: ManagerStateEvent | null;
  /** Who is online: user id -> {metas}, Phoenix-shaped. */
  users: PresenceMap;
  /** How many users are online. */
  count: number;
}

/**
 * The presence of the signed-in user's dashboard as React state: one connection per mounted
 * component (closed on unmount, or when url, token or page change), watching everyone.
 */
export function usePresence(url: string, opts: Pick<PresenceOptions, 'token' | 'page' | 'trackActivity' | 'idleMs' | 'socket'>): PresenceState {
  const [state, setState] = useState<PresenceState>({ status: 'connecting', manager: null, users: {}, count: 0 });
  const { token, page, trackActivity, idleMs, socket } = opts;
  useEffect(() => {
    const client = connectPresence(url, { token, page, trackActivity, idleMs, socket });
    const update = () => {
      const users = client.users();
      setState({ status: client.status, manager: client.manager, users, count: Object.keys(users).length });
    };
    client.on('status', update);
    client.on('manager', update);
    client.on('sync', update);
    client.watch();
    update();
    return () => client.close();
    // `socket` options are read at connect only: a new object each render must not reconnect.
  }, [url, token, page, trackActivity, idleMs]);
  return state;
}
