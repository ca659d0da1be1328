/** The messages between the bench (orchestrator) and its load generator process. */

export interface GenInit {
  url: string;
  secret: string;
  natsUrl?: string;
  localAddresses: string[];
}

export interface UserSpec {
  id: string;
  tabs: number;
}

export interface OpenArgs {
  users: UserSpec[];
  /** Session connects per second (open loop: the schedule does not wait for answers). */
  rate: number;
  timeoutMs: number;
}

export interface OpenResult {
  tabs: number;
  users: number;
  /** ms from a user's first tab starting to connect to its `manager` event with state `running`. */
  first: number[];
  /** The same for the user's other tabs (the manager is already starting or running). */
  warm: number[];
  /** ms from a user's first tab starting to connect to `stream.manager.<u>.started` on NATS. */
  nats: number[];
  /** ms from starting to connect to the socket's `connect` event, every tab. */
  connect: number[];
  /**
   * The first tabs' pipeline, as the generator sees the events on NATS: start -> session joined
   * (gateway) -> user online (presence) -> manager started (worker) -> `manager` running (gateway).
   */
  stages: { toJoined: number[]; toOnline: number[]; toStarted: number[]; toRunning: number[] };
  missing: number;
  /** Of the missing: connected, but no `manager` running event (a notification lost, not capacity). */
  connectedNotRunning: number;
  /** Of those, by the last `manager` state they were sent ('none': no `manager` event at all). */
  notRunningLastState: Record<string, number>;
  errors: number;
  errorSamples: string[];
  scheduleMs: number;
  elapsedMs: number;
}

export interface StormResult {
  tabs: number;
  users: number;
  tabsBack: number;
  tabsRunning: number;
  /** ms from the drop to the tab's reconnect, per tab. */
  backMs: number[];
  /** null: not every tab came back (null, not NaN: the result crosses IPC as JSON). */
  timeToAllBackMs: number | null;
  timeToAllRunningMs: number | null;
  /** Why tabs did not come back (their last errors). */
  notBack: string[];
  /** Users with a tab back but never `running` again: their tabs' events and the NATS events, ms. */
  stuckLogs: string[];
  /** Users whose every tab was away longer than the cleanup timeout (a restart is then expected). */
  usersAwayTooLong: number;
  /** stream.manager.<u>.stopped / started seen for the storm's users during the storm. */
  stops: number;
  starts: number;
  /** Stops of users who were back within the timeout: must be 0. */
  spuriousStops: number;
}

export interface ChurnArgs {
  /** Events per second, joins and leaves together (half each). */
  rate: number;
  durationMs: number;
  cleanupTimeoutMs: number;
  timeoutMs: number;
}

export interface ChurnResult {
  joins: number;
  leaves: number;
  /** Leaves not made because every tab tried was still connecting. */
  skippedLeaves: number;
  joinLatency: number[];
  /** Joins of a user who had no tab left (the cleanup is cancelled). */
  returnLatency: number[];
  returns: number;
  /** The longest time a user had no tab: stops are legitimate only beyond the cleanup timeout. */
  maxGapMs: number;
  usersAwayTooLong: number;
  starts: number;
  stops: number;
  spuriousStops: number;
  /** Users whose manager started more than once in the window (spurious restarts). */
  extraStarts: number;
  /** What happened to a few users stopped spuriously (client and NATS events, ms). */
  spuriousLogs: string[];
  missing: number;
  errors: number;
  achievedRate: number;
}

export type GenCommand =
  | { cmd: 'init'; args: GenInit }
  | { cmd: 'open'; args: OpenArgs }
  | { cmd: 'close'; args: { userIds?: string[] } }
  | { cmd: 'record'; args: { on: boolean } }
  | { cmd: 'storm'; args: { timeoutMs: number; cleanupTimeoutMs: number } }
  | { cmd: 'churn'; args: ChurnArgs }
  | { cmd: 'status'; args: Record<string, never> }
  | { cmd: 'exit'; args: Record<string, never> };

export interface GenStatus {
  tabs: number;
  connected: number;
  /** Connected tabs by the last `manager` state they were sent ('none': none yet). */
  connectedByState: Record<string, number>;
  users: number;
  rssBytes: number;
}
