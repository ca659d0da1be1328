import type { LeaveReason, SessionMeta, SessionStatus } from '#libs/contracts/index.js';
import type { CleanupPorts } from '../cleanup/cleanups.service.js';
import type { PresencePorts } from '../presence.service.js';
import type { CleanupOutcome, JoinOutcome, LeaveOutcome } from './presence-state.repository.js';
import { SESSION_RECORD_TTL_MS } from './scripts.js';

/* eslint-disable @typescript-eslint/require-await -- a fake of async ports answers at once */
type StatePort = PresencePorts['state'] & CleanupPorts['state'];

/**
 * For unit specs: an in-memory twin of the Lua scripts in ./scripts.ts: one user's sessions keyed by session id,
 * status online/grace/offline, an epoch bumped on every transition, the records of departed
 * sessions (until when their `left` lives; no early status: update here takes no time), and the
 * grace index (cleanupAt + reason) that dueCleanups reads.
 */
export class FakeState implements StatePort {
  readonly sessions = new Map<string, Map<string, SessionMeta>>();
  readonly users = new Map<string, { status?: 'online' | 'grace' | 'offline'; epoch: number; cleanupAt?: number; reason?: LeaveReason }>();
  readonly records = new Map<string, { leftUntil: number }>();

  constructor(private readonly maxSessions: number) {}

  private sess(userId: string) {
    let s = this.sessions.get(userId);
    if (!s) this.sessions.set(userId, (s = new Map()));
    return s;
  }
  private user(userId: string) {
    let u = this.users.get(userId);
    if (!u) this.users.set(userId, (u = { epoch: 0 }));
    return u;
  }
  status(userId: string) {
    return this.users.get(userId)?.status ?? 'offline';
  }

  async join(userId: string, meta: SessionMeta): Promise<JoinOutcome> {
    const rec = this.records.get(`${userId} ${meta.sessionId}`);
    if (rec && rec.leftUntil > Date.now()) return { kind: 'ignored' };
    const s = this.sess(userId);
    if (s.has(meta.sessionId)) return { kind: 'duplicate' };
    if (s.size >= this.maxSessions) return { kind: 'capped' };
    s.set(meta.sessionId, { ...meta });
    if (s.size > 1) return { kind: 'none' };
    const u = this.user(userId);
    const prev = u.status;
    if (prev === 'online') return { kind: 'none' };
    u.epoch++;
    u.status = 'online';
    if (prev === 'grace') {
      delete u.cleanupAt;
      delete u.reason;
      return { kind: 'cancelled', cancelledEpoch: u.epoch - 1, epoch: u.epoch };
    }
    return { kind: 'online', epoch: u.epoch };
  }

  async leave(userId: string, sessionId: string, _leftAt: number, runAt: number, reason: LeaveReason): Promise<LeaveOutcome> {
    this.records.set(`${userId} ${sessionId}`, { leftUntil: Date.now() + SESSION_RECORD_TTL_MS });
    const s = this.sess(userId);
    if (!s.has(sessionId)) return { kind: 'unknown' };
    s.delete(sessionId);
    if (s.size > 0) return { kind: 'none' };
    const u = this.user(userId);
    if (u.status !== 'online') return { kind: 'none' };
    u.epoch++;
    u.status = 'grace';
    u.cleanupAt = runAt;
    u.reason = reason;
    return { kind: 'scheduled', epoch: u.epoch, runAt };
  }

  async update(userId: string, sessionId: string, status: SessionStatus): Promise<'updated' | 'none' | 'unknown'> {
    const m = this.sess(userId).get(sessionId);
    if (!m) return 'unknown';
    if (m.status === status) return 'none';
    m.status = status;
    return 'updated';
  }

  async cleanup(userId: string, epoch: number): Promise<CleanupOutcome> {
    const u = this.users.get(userId);
    if (u?.status === 'offline' && u.epoch === epoch + 1) return { kind: 'done' };
    if (!u || u.status !== 'grace') return { kind: 'stale' };
    if (u.epoch !== epoch) return { kind: 'stale' };
    if (this.sess(userId).size > 0) return { kind: 'stale' };
    u.epoch++;
    u.status = 'offline';
    delete u.cleanupAt;
    delete u.reason;
    return { kind: 'offline', epoch: u.epoch };
  }

  async cleanupState(userId: string) {
    const u = this.users.get(userId);
    return { status: u?.status ?? null, epoch: u?.epoch ?? 0 };
  }

  async dueCleanups(beforeMs: number) {
    return [...this.users.entries()]
      .filter(([, u]) => u.status === 'grace' && u.cleanupAt !== undefined && u.cleanupAt <= beforeMs)
      .map(([userId, u]) => ({ userId, epoch: u.epoch, runAt: u.cleanupAt!, reason: u.reason ?? 'closed' }));
  }

  async adoptOrphan(userId: string, runAt: number): Promise<LeaveOutcome> {
    if (this.users.has(userId)) return { kind: 'none' };
    if (this.sess(userId).size > 0) return { kind: 'none' };
    const u = this.user(userId);
    u.epoch++;
    u.status = 'grace';
    u.cleanupAt = runAt;
    u.reason = 'closed';
    return { kind: 'scheduled', epoch: u.epoch, runAt };
  }
}
