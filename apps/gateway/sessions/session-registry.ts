import { Injectable } from '@nestjs/common';
import type { PresenceSocket } from '../socket-types.js';
import { sessionIdHash, xorDigest, type LeaveReason, type SessionJoined, type SessionStatus } from '#libs/contracts/index.js';

export interface LocalSession {
  socket: PresenceSocket;
  joined: SessionJoined;
  status: SessionStatus;
  /** Time (ms) of the last status change sent: each next one is strictly later, so presence can order them. */
  statusAtMs?: number;
  /** Set when the session's end was decided here (logout, expiry, shutdown) before the disconnect. */
  leaveReason?: LeaveReason;
  expiryTimer?: NodeJS.Timeout;
  /** The leave was published already (graceful shutdown): the disconnect must not publish again. */
  leftPublished?: boolean;
  /** The stream sequence of this session's latest stored join, once JetStream acknowledged it (see resync). */
  joinSeq?: number;
}

/** The sessions this gateway holds: by session id, and the session ids of each user. */
@Injectable()
export class SessionRegistry {
  private readonly sessions = new Map<string, LocalSession>();
  private readonly byUser = new Map<string, Set<string>>();
  private idDigest = 0;

  add(s: LocalSession) {
    if (!this.sessions.has(s.joined.sessionId)) this.idDigest = xorDigest(this.idDigest, sessionIdHash(s.joined.sessionId));
    this.sessions.set(s.joined.sessionId, s);
    let set = this.byUser.get(s.joined.userId);
    if (!set) this.byUser.set(s.joined.userId, (set = new Set()));
    set.add(s.joined.sessionId);
  }

  remove(sessionId: string): LocalSession | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    this.sessions.delete(sessionId);
    this.idDigest = xorDigest(this.idDigest, sessionIdHash(sessionId));
    const set = this.byUser.get(s.joined.userId);
    set?.delete(sessionId);
    if (set && set.size === 0) this.byUser.delete(s.joined.userId);
    return s;
  }

  get(sessionId: string) {
    return this.sessions.get(sessionId);
  }

  countFor(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  hasUser(userId: string): boolean {
    return this.byUser.has(userId);
  }

  /** The users holding at least one session here. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  get size() {
    return this.sessions.size;
  }

  /** The digest of the ids of the sessions held here (for the heartbeat), kept as they come and go. */
  get digest(): number {
    return this.idDigest;
  }

  sessionsOf(userId: string): LocalSession[] {
    return [...(this.byUser.get(userId) ?? [])].map((id) => this.sessions.get(id)!);
  }

  all(): LocalSession[] {
    return [...this.sessions.values()];
  }
}
