import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, cleanupTimeoutFor, type AppConfig } from '#libs/config/index.js';
import {
  metaOfJoin,
  nowIso,
  type CleanupJobData,
  type Emit,
  type LeaveReason,
  type OfflineReason,
  type SessionJoined,
  type SessionLeft,
  type SessionRefused,
  type SessionUpdated,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { PresenceStateRepository, canonicalIso } from './state/presence-state.repository.js';
import { Cleanups } from './cleanup/cleanups.service.js';

/** What presence needs from the outside world; narrow so unit tests can fake it. */
export interface PresencePorts {
  state: Pick<PresenceStateRepository, 'join' | 'leave' | 'update' | 'cleanup' | 'adoptOrphan'>;
  cleanups: Pick<Cleanups, 'schedule' | 'cancel'>;
  emit: Emit;
}

/**
 * Turns session events into user transitions. The state repository decides each transition
 * atomically; this service acts on its answer (events out, cleanup jobs in or out). Every
 * handler is idempotent, so a redelivered or duplicated event changes nothing.
 */
@Injectable()
export class PresenceService {
  private readonly logger = new Logger('PresenceManager');
  private readonly ports: PresencePorts;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
    state: PresenceStateRepository,
    cleanups: Cleanups,
    nats: NatsService,
  ) {
    this.ports = { state, cleanups, emit: (kind, payload) => nats.emit(kind, payload) };
  }

  /** For unit tests: the same logic over fakes. */
  static withPorts(config: AppConfig, metrics: Metrics, ports: PresencePorts): PresenceService {
    const svc = Object.create(PresenceService.prototype) as PresenceService;
    Object.assign(svc, { config, metrics, ports, logger: new Logger('PresenceManager') });
    return svc;
  }

  async joined(e: SessionJoined): Promise<void> {
    const out = await this.ports.state.join(e.userId, metaOfJoin(e, undefined, canonicalIso(e.statusAt ?? e.at)));
    this.metrics.sessionEvents.inc({ kind: 'joined', outcome: out.kind });
    switch (out.kind) {
      case 'online':
        this.logger.log(`join: ${e.userId} (first session ${e.sessionId}): online`);
        this.metrics.transitions.inc({ transition: 'online' });
        this.ports.emit('user.online', { userId: e.userId, at: nowIso(), sessionId: e.sessionId, joinedAt: e.at, epoch: out.epoch });
        return;
      case 'cancelled':
        this.logger.log(`join: ${e.userId} came back (session ${e.sessionId}): cleanup cancelled`);
        this.metrics.transitions.inc({ transition: 'cleanup_cancelled' });
        await this.ports.cleanups.cancel(e.userId, out.cancelledEpoch);
        this.ports.emit('cleanup.cancelled', { userId: e.userId, at: nowIso(), epoch: out.epoch });
        return;
      case 'capped': {
        // The cap counts every gateway's sessions; the gateway holding this one must end it.
        this.logger.warn(`join: ${e.userId} session ${e.sessionId} refused: over ${this.config.maxSessionsPerUser} sessions across gateways`);
        const refusal: SessionRefused = { sessionId: e.sessionId, userId: e.userId, gatewayId: e.gatewayId, reason: 'too_many_sessions', at: nowIso() };
        this.ports.emit('gateway.refused', refusal);
        return;
      }
      case 'blocked': {
        // An operator ended this user's sessions a moment ago: a tab coming straight back is ended too.
        this.logger.warn(`join: ${e.userId} session ${e.sessionId} refused: the user's sessions were ended by an operator (blocked for now)`);
        const refusal: SessionRefused = { sessionId: e.sessionId, userId: e.userId, gatewayId: e.gatewayId, reason: 'blocked', at: nowIso() };
        this.ports.emit('gateway.refused', refusal);
        return;
      }
      case 'ignored': {
        // Usually a late duplicate of a session that closed: its gateway no longer holds it and
        // drops the refusal. But a gateway cut off from NATS past GATEWAY_TTL_MS had its sessions
        // ended here while it kept their sockets; its re-announced joins land here, and it must
        // give those sockets new sessions or their users stay without a manager.
        this.logger.debug(`join: ${e.userId} session ${e.sessionId} already left; ignored (its gateway is told)`);
        const refusal: SessionRefused = { sessionId: e.sessionId, userId: e.userId, gatewayId: e.gatewayId, reason: 'gone', at: nowIso() };
        this.ports.emit('gateway.refused', refusal);
        return;
      }
      default:
        this.logger.debug(`join: ${e.userId} session ${e.sessionId} (${out.kind})`);
    }
  }

  async left(e: SessionLeft): Promise<void> {
    const timeout = cleanupTimeoutFor(this.config, e.reason);
    // The grace runs from when the session ended at the gateway, but a clock ahead of ours must
    // not push the cleanup past one timeout from now.
    const leftAt = Date.parse(e.at);
    const runAt = Math.min(leftAt + timeout, Date.now() + timeout);
    const out = await this.ports.state.leave(e.userId, e.sessionId, leftAt, runAt, e.reason, e.gatewayId);
    this.metrics.sessionEvents.inc({ kind: 'left', outcome: out.kind });
    if (out.kind !== 'scheduled') {
      this.logger.debug(`leave: ${e.userId} session ${e.sessionId} (${e.reason}, ${out.kind})`);
      return;
    }
    await this.scheduleCleanup(e.userId, out.epoch, out.runAt, out.reason ?? e.reason);
  }

  async updated(e: SessionUpdated): Promise<void> {
    const out = await this.ports.state.update(e.userId, e.sessionId, e.status, e.at);
    this.metrics.sessionEvents.inc({ kind: 'updated', outcome: out });
  }

  private async scheduleCleanup(userId: string, epoch: number, runAt: number, reason: LeaveReason) {
    const data: CleanupJobData = { userId, epoch, runAt: nowIso(runAt), reason };
    this.logger.log(`leave: ${userId} has no session left (${reason}): cleanup at ${data.runAt}`);
    this.metrics.transitions.inc({ transition: 'cleanup_scheduled' });
    await this.ports.cleanups.schedule(data);
    this.ports.emit('cleanup.scheduled', { userId, runAt: data.runAt, at: nowIso(), reason, epoch });
  }

  /** A due cleanup (Cleanups' handler): goes offline only if nothing moved since it was scheduled. */
  async runCleanup(data: CleanupJobData): Promise<{ outcome: string }> {
    const out = await this.ports.state.cleanup(data.userId, data.epoch);
    // The usual end of a job: the in-process timer ran this cleanup at its time; say when.
    if (out.kind === 'done') return { outcome: `offline at ${out.offlineAt ? nowIso(out.offlineAt) : 'its time'} (already run by the cleanup timer)` };
    if (out.kind !== 'offline') {
      this.logger.debug(`cleanup: ${data.userId} epoch ${data.epoch} is stale (user came back)`);
      return { outcome: 'stale: the user came back' };
    }
    const lateness = Date.now() - Date.parse(data.runAt);
    this.metrics.cleanupLateness.observe(Math.max(0, lateness) / 1000);
    this.metrics.transitions.inc({ transition: 'offline' });
    this.logger.log(`cleanup: ${data.userId} offline (${data.reason}, ${lateness} ms after its time)`);
    this.ports.emit('user.offline', { userId: data.userId, at: nowIso(), reason: data.reason satisfies OfflineReason, epoch: out.epoch });
    return { outcome: 'offline' };
  }

  /**
   * An operator ends a user's grace period now: the same atomic re-check as the cleanup job (so a
   * user who came back in the meantime is left alone), then the queued job is dropped.
   */
  async cleanupNow(userId: string, epoch: number): Promise<boolean> {
    const out = await this.ports.state.cleanup(userId, epoch);
    if (out.kind !== 'offline') return false;
    await this.ports.cleanups.cancel(userId, epoch);
    this.metrics.transitions.inc({ transition: 'offline' });
    this.logger.log(`cleanup: ${userId} offline (admin: ended by an operator)`);
    this.ports.emit('user.offline', { userId, at: nowIso(), reason: 'admin' satisfies OfflineReason, epoch: out.epoch });
    return true;
  }

  /** A manager runs for a user the state has never heard of: give them a grace period. */
  async adoptOrphan(userId: string): Promise<void> {
    const out = await this.ports.state.adoptOrphan(userId, Date.now() + this.config.cleanupTimeoutMs);
    if (out.kind === 'scheduled') await this.scheduleCleanup(userId, out.epoch, out.runAt, 'closed');
  }
}
