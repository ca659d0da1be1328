/**
 * JetStream message ids of session events (`Nats-Msg-Id`): within the stream's duplicate window a
 * second publish under an id already stored is dropped. A retry of one publish reuses its id, so a
 * lost ack never stores an event twice. A repair (an event presence re-publishes because the state
 * disagrees with a gateway) takes an id of its own: under the original's it would be dropped as a
 * duplicate of the very event whose effect is missing. A repair's id names the session and the
 * repair's cause only, nothing of the replica that publishes it: every presence replica sees a
 * gateway's heartbeats and may repair it at the same moment, and JetStream stores the repair once.
 */
export const SessionMessageIds = {
  /** `suffix`: a re-announcement (a gateway's resync) is a new publish of the same join. */
  joined: (sessionId: string, suffix = '') => `${sessionId}-joined${suffix}`,
  /**
   * The join presence re-publishes for a gateway that holds the session while the state lacks it.
   * The same from every replica; a second loss of the session within the duplicate window has its
   * repair dropped until the window has passed (a later reconcile then stores it).
   */
  joinedRepair: (sessionId: string) => `${sessionId}-joined-reconcile`,
  /** The gateway's own leave of a session. */
  left: (sessionId: string) => `${sessionId}-left`,
  /**
   * A leave presence publishes for a gateway: `cause` names the repair, and repairs of one cause
   * (a dead gateway's TTL expiry and an operator's purge of it, at once; two replicas reconciling
   * one gateway) store each leave once. A session's leave is final (session ids are per
   * connection: once applied, the tombstone keeps the session out), so a repeat is a duplicate;
   * only a repair whose write Redis lost again within the duplicate window waits for it to pass.
   */
  leftRepair: (sessionId: string, cause: 'gateway-down' | 'admin-end' | 'reconcile') => `${sessionId}-left-${cause}`,
  /** `atMs` is strictly increasing per session. */
  updated: (sessionId: string, atMs: number) => `${sessionId}-status-${atMs}`,
} as const;
