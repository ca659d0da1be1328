import { io, type Socket } from 'socket.io-client';
import type { Rng } from './rng.js';

const STATUSES = ['visible', 'hidden', 'idle'] as const;

/** One dashboard tab: a real Socket.IO client that reconnects by itself, and what it lived through. */
export class SimTab {
  readonly socket: Socket;
  /** Periods the tab was connected: [from, to), `to` undefined while it is. */
  readonly connected: Array<{ from: number; to?: number }> = [];
  sessionId?: string;
  readonly sessions: string[] = [];
  closedAt?: number;
  /** The last `manager` event: what the tab shows of its user's manager. */
  manager?: { state: string; workerId?: string };

  constructor(
    readonly user: string,
    url: string,
    token: string,
  ) {
    // The client's own reconnection (delays of about a second, doubling), with a connect timeout
    // short enough that an attempt that reached a paused gateway is given up and retried.
    this.socket = io(`${url}/presence`, { auth: { token, page: '/dashboard' }, transports: ['websocket'], forceNew: true, timeout: 3000 });
    this.socket.on('connect', () => this.connected.push({ from: Date.now() }));
    this.socket.on('disconnect', () => {
      const last = this.connected.at(-1);
      if (last && last.to === undefined) last.to = Date.now();
    });
    this.socket.on('manager', (m: { state: string; workerId?: string }) => {
      this.manager = m;
    });
    this.socket.on('session', (s: { sessionId: string }) => {
      this.sessionId = s.sessionId;
      this.sessions.push(s.sessionId);
    });
  }

  get isConnected(): boolean {
    return this.socket.connected;
  }

  setStatus(status: (typeof STATUSES)[number]) {
    this.socket.emit('presence:status', { status });
  }

  close() {
    this.closedAt = Date.now();
    this.socket.disconnect();
  }
}

export interface PopulationOptions {
  users: number;
  /** The cleanup grace, to return inside it or outside it. */
  graceMs: number;
  /** One action every this many ms on average. */
  stepMs: number;
}

/**
 * Simulated dashboard users, 1 to 3 tabs each, joining, leaving, coming back inside and outside
 * the grace, changing tab status. Everything they saw is kept for the checker.
 */
export class Population {
  readonly tabs: SimTab[] = [];
  readonly users: string[];
  private timer?: NodeJS.Timeout;
  private readonly returns = new Set<NodeJS.Timeout>();
  actions = 0;

  constructor(
    private readonly rng: Rng,
    private readonly url: string,
    private readonly tokenFor: (user: string) => Promise<string>,
    private readonly opts: PopulationOptions,
    prefix: string,
  ) {
    this.users = Array.from({ length: opts.users }, (_, i) => `${prefix}-u${i}`);
  }

  tabsOf(user: string): SimTab[] {
    return this.tabs.filter((t) => t.user === user);
  }

  openTabsOf(user: string): SimTab[] {
    return this.tabsOf(user).filter((t) => t.closedAt === undefined);
  }

  async open(user: string): Promise<SimTab> {
    const tab = new SimTab(user, this.url, await this.tokenFor(user));
    this.tabs.push(tab);
    return tab;
  }

  /** Every user with one tab, then the churn starts. */
  async start() {
    for (const u of this.users) await this.open(u);
    this.resume();
  }

  resume() {
    if (this.timer) return;
    const step = () => {
      this.timer = setTimeout(() => {
        void this.act().finally(step);
      }, this.rng.int(this.opts.stepMs / 2, (this.opts.stepMs * 3) / 2));
    };
    step();
  }

  /** No more actions (returns already planned are cancelled too): the population holds still. */
  pause() {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const t of this.returns) clearTimeout(t);
    this.returns.clear();
  }

  close() {
    this.pause();
    for (const t of this.tabs) t.socket.disconnect();
  }

  private async act() {
    this.actions++;
    const user = this.rng.pick(this.users);
    const open = this.openTabsOf(user);
    const r = this.rng.next();
    if (open.length === 0) {
      if (![...this.returns].length || r < 0.5) await this.open(user);
    } else if (r < 0.25 && open.length < 3) {
      await this.open(user);
    } else if (r < 0.5 && open.length > 1) {
      this.rng.pick(open).close();
    } else if (r < 0.75) {
      this.rng.pick(open).setStatus(this.rng.pick(STATUSES));
    } else {
      // The user leaves, and comes back inside the grace or well after it.
      for (const t of open) t.close();
      const back = this.rng.chance(0.5) ? this.rng.int(this.opts.graceMs * 0.2, this.opts.graceMs * 0.6) : this.rng.int(this.opts.graceMs * 1.5, this.opts.graceMs * 2.5);
      const timer = setTimeout(() => {
        this.returns.delete(timer);
        if (this.openTabsOf(user).length === 0) void this.open(user);
      }, back);
      this.returns.add(timer);
    }
  }
}
