import type {
  CleanupCancelled,
  CleanupScheduled,
  ManagerStarted,
  ManagerStateEvent,
  ManagerStopped,
  UserOffline,
  UserOnline,
  UserPresence,
  UserStatus,
} from '#libs/contracts/index.js';

/**
 * A user's manager state as a gateway holds it: two parts, each with its owner and its version.
 * Presence owns the user's status (online, in grace, offline), versioned by the user's epoch, which
 * every transition bumps; the lease holder owns the manager (running or not, where), versioned by
 * the lease generation, which every acquisition grows. Events and query answers are pieces of the
 * same record: each part keeps its newest version, so the order they arrive in changes nothing,
 * and what a tab is told is a function of the record alone. Pure: no clock, no I/O.
 */
export interface PresencePart {
  epoch: number;
  status: UserStatus;
  /** When the pending cleanup runs (status `grace`). */
  cleanupAt?: string;
}

export interface ManagerPart {
  generation: number;
  running: boolean;
  workerId?: string;
  /** Why it stopped (not running). */
  reason?: string;
}

export interface ManagerRecord {
  presence?: PresencePart;
  manager?: ManagerPart;
}

/**
 * Whether `b` is a newer word on the manager than `a`. A larger generation is a later holder (a
 * stale holder's late word changes nothing: fencing); within one generation the stop follows the start.
 */
function newerManager(a: ManagerPart | undefined, b: ManagerPart): boolean {
  if (!a) return true;
  return b.generation > a.generation || (b.generation === a.generation && a.running && !b.running);
}

/** Each part at its newest version; `a`'s where the versions are equal (the same word, said again). */
export function mergeRecord(a: ManagerRecord, b: ManagerRecord): ManagerRecord {
  return {
    presence: b.presence && (!a.presence || b.presence.epoch > a.presence.epoch) ? b.presence : a.presence,
    manager: b.manager && newerManager(a.manager, b.manager) ? b.manager : a.manager,
  };
}

/**
 * What the user's tabs are told, the socket `manager` event: offline is `stopped`; a pending
 * cleanup is `stopping` (with where the manager still runs); otherwise `running` where a manager
 * runs, `starting` where none does yet (or it is moving between workers). Before presence's word,
 * a manager stopped for the user's offline is `stopped`.
 */
export function managerView(userId: string, r: ManagerRecord): ManagerStateEvent {
  const { presence: p, manager: m } = r;
  const workerId = m?.running ? m.workerId : undefined;
  if (p?.status === 'offline' || (!p && m?.reason === 'offline')) return { userId, state: 'stopped' };
  const view: ManagerStateEvent = { userId, state: p?.status === 'grace' ? 'stopping' : workerId ? 'running' : 'starting' };
  if (workerId) view.workerId = workerId;
  if (view.state === 'stopping' && p?.cleanupAt) view.cleanupAt = p.cleanupAt;
  return view;
}

export function sameView(a: ManagerStateEvent, b: ManagerStateEvent): boolean {
  return a.state === b.state && a.workerId === b.workerId && a.cleanupAt === b.cleanupAt;
}

/**
 * A lifecycle event as a piece of the record, by `<second token>.<last token>` of its subject. An
 * event without its version (sent by hand, `nats pub`) counts as the oldest word: it is news only
 * to a reader that knows nothing yet.
 */
export const RECORD_OF_EVENT = {
  'user.online': (e: UserOnline): ManagerRecord => ({ presence: { epoch: e.epoch ?? 0, status: 'online' } }),
  'cleanup.cancelled': (e: CleanupCancelled): ManagerRecord => ({ presence: { epoch: e.epoch ?? 0, status: 'online' } }),
  'cleanup.scheduled': (e: CleanupScheduled): ManagerRecord => ({ presence: { epoch: e.epoch ?? 0, status: 'grace', cleanupAt: e.runAt } }),
  'user.offline': (e: UserOffline): ManagerRecord => ({ presence: { epoch: e.epoch ?? 0, status: 'offline' } }),
  'manager.started': (e: ManagerStarted): ManagerRecord => ({ manager: { generation: e.generation ?? 0, running: true, workerId: e.workerId } }),
  'manager.stopped': (e: ManagerStopped): ManagerRecord => ({ manager: { generation: e.generation ?? 0, running: false, reason: e.reason } }),
};

/**
 * Presence's answer to `presence.query.user` as a piece of the record. No manager registered says
 * nothing of the manager's version (a stop the reader heard of is not undone by it, nor a start
 * the registry does not show yet); no epoch (no state) says nothing of the user's status.
 */
export function recordOfAnswer(p: UserPresence): ManagerRecord {
  const r: ManagerRecord = {};
  if (p.epoch !== undefined && p.status !== undefined) r.presence = { epoch: p.epoch, status: p.status, ...(p.cleanupAt ? { cleanupAt: p.cleanupAt } : {}) };
  if (p.manager) r.manager = { generation: p.manager.generation ?? 0, running: true, workerId: p.manager.workerId };
  return r;
}
