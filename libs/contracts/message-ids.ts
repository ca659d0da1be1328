/**
 * JetStream message ids of session events (`Nats-Msg-Id`): within the stream's duplicate window a
 * second publish under an id already stored is dropped. A retry of one publish reuses its id, so a
 * lost ack never stores an event twice. A repair (an event presence re-publishes because the state
 * disagrees with a gateway) takes an id of its own: under the original's it would be dropped as a
 * duplicate of the very event whose effect is missing.
 */
export const SessionMessageIds = {
  /** `suffix`: a re-announcement (resync, reconcile) is a new publish of the same join. */
  joined: (sessionId: string, suffix = '') => `${sessionId}-joined${suffix}`,
  /** The gateway's own leave of a session. */
  left: (sessionId: string) => `${sessionId}-left`,
  /**
   * A leave presence publishes for a gateway: `cause` names the repair, and repairs of one cause
   * (a dead gateway's TTL expiry and an operator's purge of it, at once) store each leave once.
   */
  leftRepair: (sessionId: string, cause: 'gateway-down' | 'admin-end' | `reconcile-${number}`) => `${sessionId}-left-${cause}`,
  /** `atMs` is strictly increasing per session. */
  updated: (sessionId: string, atMs: number) => `${sessionId}-status-${atMs}`,
} as const;
