import { io } from 'socket.io-client';
import { PresenceList, type PresenceHooks } from '../../../libs/contracts/presence-diff.js';
import type { ManagerStateEvent, PresenceMap, SessionStatus } from '../../../libs/contracts/presence-types.js';
import type { Ack, SessionEvent } from '../../../libs/contracts/socket-events.js';
import { Backoff } from './backoff.js';
import type { ConnectionStatus, PresenceEvents, PresenceOptions, PresenceSocket } from './types.js';

export type { ConnectionStatus, PresenceEvents, PresenceOptions, PresenceSocket } from './types.js';
import { DEFAULT_IDLE_MS, trackActivity, type ActivityTracker } from './activity.js';
import { Emitter } from './emitter.js';
import { checkOptions, isConsoleTick, isGraceEvent, isManagerEvent, isPresenceDiff, isPresenceMap, isSessionEvent, isStatus } from './validate.js';

/** Refusals that trying again cannot fix: a bad token or page. */
const FINAL_REFUSALS = new Set(['unauthorized', 'bad_request']);
const SUBSCRIBE_RETRY_MS = 2000;

export class PresenceClient {
  private readonly emitter = new Emitter<PresenceEvents>();
  private readonly socket: PresenceSocket;
  private readonly list: PresenceList;
  private readonly activity: ActivityTracker | null = null;
  private _status: ConnectionStatus = 'connecting';
  private _detail: string | undefined;
  private _manager: ManagerStateEvent | null = null;
  private _session: SessionEvent | null = null;
  private watching = false;
  private consoleWanted = false;
  private readonly graces = new Map<string, string>();
  private closed = false;
  private sentStatus: SessionStatus = 'visible';
  private wanted: SessionStatus = 'visible';
  private readonly backoff = new Backoff();
  /** Why the gateway ended the session, told just before it disconnects (`session_ended`, `session_expired`). */
  private endedWhy: string | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private subscribeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, opts: PresenceOptions) {
    checkOptions(url, opts);
    const hooks: PresenceHooks & { onSync: () => void } = {
      onJoin: (key, current, joined) => this.emitter.emit('join', key, current, joined),
      onLeave: (key, current, left) => this.emitter.emit('leave', key, current, left),
      onSync: () => this.emitter.emit('sync'),
    };
    this.list = new PresenceList(hooks);
    const endpoint = url.replace(/\/+$/, '').replace(/\/presence$/, '') + '/presence';
    const make = opts.connect ?? ((u, o) => io(u, o) as PresenceSocket);
    this.socket = make(endpoint, { ...opts.socket, auth: { token: opts.token, page: opts.page ?? '/dashboard' } });
    this.bind();
    if (opts.trackActivity !== false) {
      this.activity = trackActivity({
        idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
        onChange: (status) => this.want(status),
        onPageHide: () => this.socket.disconnect(),
        onPageShow: () => !this.closed && this.socket.connect(),
      });
      if (this.activity) this.wanted = this.activity.current();
    }
  }

  get status(): ConnectionStatus {
    return this._status;
  }
  /** Why the status is what it is: the last disconnect or refusal reason. */
  get statusDetail(): string | undefined {
    return this._detail;
  }
  /** The last `manager` event (kept while disconnected: the last state heard), or null. */
  get manager(): ManagerStateEvent | null {
    return this._manager;
  }
  get session(): SessionEvent | null {
    return this._session;
  }

  on<K extends keyof PresenceEvents>(event: K, fn: PresenceEvents[K]): () => void {
    return this.emitter.on(event, fn);
  }

  /** Follow the presence of everyone (`presence:subscribe`): `users()`, `sync`, `join` and `leave` from now on. */
  watch(): this {
    if (this.watching) return this;
    this.watching = true;
    if (this.socket.connected) this.subscribe();
    return this;
  }

  /** Users in their grace period, seen since watch(): user id -> when their manager stops (ISO-8601). */
  grace(): Record<string, string> {
    return Object.fromEntries(this.graces);
  }

  /** Receive the user's manager's ConsoleLogger ticks (`presence:console`) as `console` events. */
  watchConsole(): this {
    if (this.consoleWanted) return this;
    this.consoleWanted = true;
    if (this.socket.connected) this.socket.emit('presence:console');
    return this;
  }

  /** The Phoenix-shaped map of who is online: user id -> {metas}. Empty until watch()'s first snapshot. */
  users(): PresenceMap {
    return this.list.list();
  }

  /** Set this tab's status (in a browser with activity tracking on, the next change of visibility or input overrides it). */
  async setStatus(status: SessionStatus): Promise<Ack> {
    if (!isStatus(status)) throw new TypeError('setStatus(status): status must be "visible", "hidden" or "idle"');
    this.wanted = status;
    if (!this.socket.connected) return { error: 'no_session', message: 'not connected: sent once connected' };
    this.sentStatus = status;
    return (await this.socket.timeout(5000).emitWithAck('presence:status', { status })) as Ack;
  }

  /** End this session as a logout (its leave has reason `logout`), then close. */
  async logout(): Promise<void> {
    if (this.socket.connected) {
      try {
        await this.socket.timeout(2000).emitWithAck('presence:logout');
      } catch {
        // Unanswered: the session ends anyway (as `closed`).
      }
    }
    this.close();
  }

  /** Disconnect for good: no reconnection, no more events. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.subscribeTimer);
    this.activity?.stop();
    this.socket.disconnect();
    this.setStatus_('disconnected', 'closed');
    this.emitter.clear();
  }

  private bind() {
    const s = this.socket;
    s.on('connect', () => {
      this.backoff.reset();
      this.endedWhy = undefined;
      this.sentStatus = 'visible';
      this.setStatus_('connected');
      if (this.watching) this.subscribe();
      if (this.consoleWanted) this.socket.emit('presence:console');
      this.want(this.wanted);
    });
    s.on('disconnect', (reason) => {
      this.setStatus_('disconnected', this.endedWhy ?? reason);
      // A gateway that ended the connection itself (shutdown of an old version, a limit): socket.io
      // never retries this one; a dashboard must come back by itself.
      if (reason === 'io server disconnect') this.retryLater();
    });
    s.io.on('reconnect_attempt', () => this.setStatus_('connecting'));
    s.on('connect_error', (err: Error) => {
      const message = err?.message || 'error';
      // socket.active: socket.io retries by itself (the transport failed); otherwise the gateway refused us.
      if (s.active) return this.setStatus_('disconnected', message);
      this.setStatus_('refused', message);
      if (!FINAL_REFUSALS.has(message)) this.retryLater();
    });
    s.on('session_ended', (e) => {
      if (typeof e?.reason !== 'string') return;
      this.endedWhy = e.reason;
      if (typeof e.until === 'string') this.backoff.holdUntil(Date.parse(e.until));
    });
    s.on('session_expired', () => (this.endedWhy = 'session_expired'));
    s.on('manager', (m) => {
      if (!isManagerEvent(m)) return;
      this._manager = m;
      this.emitter.emit('manager', m);
    });
    s.on('session', (e) => {
      if (!isSessionEvent(e)) return;
      this._session = e;
      this.emitter.emit('session', e);
    });
    s.on('console_log', (tick) => {
      if (isConsoleTick(tick)) this.emitter.emit('console', tick);
    });
    s.on('presence_grace', (e) => {
      if (!isGraceEvent(e)) return;
      if (e.cleanupAt === null) this.graces.delete(e.userId);
      else this.graces.set(e.userId, e.cleanupAt);
      this.emitter.emit('grace', e.userId, e.cleanupAt);
    });
    s.on('presence_state', (state) => {
      if (isPresenceMap(state)) this.list.onState(state);
    });
    s.on('presence_diff', (diff) => {
      if (isPresenceDiff(diff)) this.list.onDiff(diff);
    });
    s.on('presence_error', () => {
      // Presence did not answer the snapshot request in time: ask again shortly.
      clearTimeout(this.subscribeTimer);
      this.subscribeTimer = setTimeout(() => this.socket.connected && this.subscribe(), SUBSCRIBE_RETRY_MS);
    });
  }

  private subscribe() {
    this.list.resubscribing();
    this.socket.emit('presence:subscribe');
  }

  private want(status: SessionStatus) {
    this.wanted = status;
    if (!this.socket.connected || status === this.sentStatus) return;
    this.sentStatus = status;
    this.socket.emit('presence:status', { status });
  }

  private retryLater() {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    const delay = this.backoff.take(Date.now());
    this.retryTimer = setTimeout(() => {
      if (this.closed || this.socket.connected) return;
      this.setStatus_('connecting');
      this.socket.connect();
    }, delay);
  }

  private setStatus_(status: ConnectionStatus, detail?: string) {
    if (this._status === status && this._detail === detail) return;
    this._status = status;
    this._detail = detail;
    this.emitter.emit('status', status, detail);
  }
}

/** Connects to a gateway's /presence namespace. `url`: the gateway's base URL (e.g. http://localhost:3000). */
export function connectPresence(url: string, opts: PresenceOptions): PresenceClient {
  return new PresenceClient(url, opts);
}
