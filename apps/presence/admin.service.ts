import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import {
  SessionMessageIds,
  nowIso,
  type AdminAction,
  type AdminAudit,
  type AdminEndSessionsRequest,
  type AdminPurgeGatewayRequest,
  type AdminResult,
  type AdminStopRequest,
  type OfflineReason,
  type SessionLeft,
  type UserSessionsEnded,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { PresenceService } from './presence.service.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { GatewayLivenessService } from './gateway-liveness.service.js';

/** How long end_sessions waits for the gateways' leaves before ending the rest itself. */
const SESSIONS_CLOSE_WAIT_MS = 3000;

/**
 * Operator actions. They go through the same transitions as everything else (the cleanup's atomic
 * re-check, ordinary durable leaves), so state and managers agree afterwards, and each one leaves
 * an audit record in the stream besides the lifecycle events it causes.
 */
@Injectable()
export class AdminService {
  private readonly logger = new Logger('Admin');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
    private readonly presence: PresenceService,
    private readonly state: PresenceStateRepository,
    private readonly liveness: GatewayLivenessService,
  ) {}

  /**
   * Ends a user's manager now. A user in their grace period goes offline at once (reason `admin`);
   * a user with live sessions is refused, because the manager runs while they are present and
   * would only be started again.
   */
  async stop(req: AdminStopRequest, by: string): Promise<AdminResult> {
    const { userId } = req;
    const { status, epoch } = await this.state.cleanupState(userId);
    let result: AdminResult;
    if (status === 'online') {
      const { metas } = await this.state.user(userId);
      result = {
        outcome: 'refused',
        target: userId,
        message: `${userId} has ${metas.length} live session(s): their manager runs while they are present (it would start again)`,
      };
    } else if (status === 'grace') {
      result = (await this.presence.cleanupNow(userId, epoch))
        ? { outcome: 'done', target: userId, message: `${userId}'s pending cleanup ran now: offline (admin)` }
        : { outcome: 'refused', target: userId, message: `${userId}'s state changed meanwhile (came back?); nothing done, ask again` };
    } else {
      const manager = await this.state.managerOf(userId);
      if (manager) {
        // No presence for the user but a manager registered: workers stop it unless the user is active.
        this.nats.emit('user.offline', { userId, at: nowIso(), reason: 'admin' satisfies OfflineReason, ...(epoch ? { epoch } : {}) });
        result = { outcome: 'done', target: userId, message: `${userId} is not present; asked ${manager.workerId} to stop its manager (admin)` };
      } else {
        result = { outcome: 'nothing_to_do', target: userId, message: `no manager runs for ${userId} and no cleanup is pending` };
      }
    }
    this.audit('stop', result, by);
    return result;
  }

  /**
   * Ends a present user's sessions on every gateway: their tabs are told why, and their joins are
   * refused for END_SESSIONS_BLOCK_MS (the block is set before the gateways are told, so a tab that
   * reconnects at once is refused too). The manager then stops like after any last leave, after
   * its grace, or at once with `now`.
   */
  async endSessions(req: AdminEndSessionsRequest, by: string): Promise<AdminResult> {
    const { userId } = req;
    const reason = req.reason ?? 'your sessions were ended by an operator';
    const untilMs = Date.now() + this.config.endSessionsBlockMs;
    await this.state.redis.set(this.state.keys.block(userId), String(untilMs), 'PX', this.config.endSessionsBlockMs);
    const { metas } = await this.state.user(userId);
    const notice: UserSessionsEnded = { userId, reason, until: nowIso(untilMs), at: nowIso() };
    this.nats.emit('gateway.user_ended', notice);
    // The gateways' own leaves are the usual path; a session whose gateway did not close it (gone,
    // cut off from NATS) is ended here, as a purge does, so the state does not wait for its TTL.
    let remaining = await this.sessionsAfter(userId, SESSIONS_CLOSE_WAIT_MS);
    if (remaining.length > 0) {
      const at = nowIso();
      await Promise.all(
        remaining.map((m) => {
          const left: SessionLeft = { sessionId: m.sessionId, userId, gatewayId: m.gatewayId, reason: 'closed', at, meta: m };
          return this.nats.emitDurable('session.left', left, SessionMessageIds.leftRepair(m.sessionId, 'admin-end'));
        }),
      );
      remaining = await this.sessionsAfter(userId, SESSIONS_CLOSE_WAIT_MS);
    }
    const ended = metas.length - remaining.length;
    const gateways = [...new Set(metas.map((m) => m.gatewayId))].sort();
    const where = ended > 0 ? `ended ${ended} session(s) of ${userId} on ${gateways.join(', ')}` : `${userId} had no session`;
    const manager = req.now ? await this.stopNow(userId) : await this.stopsWhen(userId);
    const result: AdminResult = {
      outcome: 'done',
      target: userId,
      message: `${where}; new sessions refused until ${notice.until}; ${manager}${remaining.length ? `; ${remaining.length} session(s) still recorded (their leaves are stored, presence is behind)` : ''}`,
      users: [userId],
      sessions: ended,
    };
    this.audit('end_sessions', result, by, { reason: req.reason });
    return result;
  }

  /** The user's sessions still in the state once they are all gone, or after `waitMs`. */
  private async sessionsAfter(userId: string, waitMs: number) {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { metas } = await this.state.user(userId);
      if (metas.length === 0 || Date.now() >= deadline) return metas;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async stopNow(userId: string): Promise<string> {
    const { status, epoch } = await this.state.cleanupState(userId);
    if (status === 'grace') {
      return (await this.presence.cleanupNow(userId, epoch)) ? 'their manager stops now (offline, admin)' : 'their state changed meanwhile, the manager was left as it is';
    }
    const manager = status === 'online' ? null : await this.state.managerOf(userId);
    if (!manager) return 'no manager to stop';
    this.nats.emit('user.offline', { userId, at: nowIso(), reason: 'admin' satisfies OfflineReason, ...(epoch ? { epoch } : {}) });
    return `asked ${manager.workerId} to stop their manager now (admin)`;
  }

  private async stopsWhen(userId: string): Promise<string> {
    const { cleanupAt } = await this.state.user(userId);
    return cleanupAt ? `their manager stops at ${cleanupAt}, after its grace (--now: at once)` : 'no manager is waiting to stop';
  }

  /**
   * Ends every session of a gateway that is gone, without waiting GATEWAY_TTL_MS. Refused while it
   * answers, unless `force`: then what the state holds for it is dropped all the same, and the
   * sockets the gateway really still holds come back through its resync under new session ids.
   */
  async purgeGateway(req: AdminPurgeGatewayRequest, by: string): Promise<AdminResult> {
    const { gatewayId } = req;
    let result: AdminResult;
    const alive = await this.liveness.gatewayAnswers(gatewayId);
    if (alive && !req.force) {
      result = { outcome: 'refused', target: gatewayId, message: `gateway ${gatewayId} is alive (it answered): its sessions are its own (--force to purge anyway)` };
    } else {
      const ended = await this.liveness.endGatewaySessions(gatewayId);
      const users = [...new Set(ended.map((s) => s.userId))].sort();
      result =
        ended.length === 0
          ? { outcome: 'nothing_to_do', target: gatewayId, message: `no session is recorded for gateway ${gatewayId}`, users, sessions: 0 }
          : {
              outcome: 'done',
              target: gatewayId,
              message: `ended ${ended.length} session(s) of ${users.length} user(s) of gateway ${gatewayId} (gateway_down)${alive ? ', forced: it answers, and re-announces what it still holds' : ''}`,
              users,
              sessions: ended.length,
            };
    }
    this.audit('purge_gateway', result, by, { force: req.force });
    return result;
  }

  /** `by`: the operator NATS authenticated (the last token of the request's subject). */
  private audit(action: AdminAction, result: AdminResult, by: string, extra: Pick<AdminAudit, 'reason' | 'force'> = {}) {
    this.metrics.adminActions.inc({ action, outcome: result.outcome });
    const line = `${action} ${result.target} by ${by}: ${result.outcome}: ${result.message}`;
    if (result.outcome === 'refused') this.logger.warn(line);
    else this.logger.log(line);
    const record: AdminAudit = {
      action,
      target: result.target,
      outcome: result.outcome,
      message: result.message.slice(0, 500),
      by,
      users: result.users,
      sessions: result.sessions,
      ...extra,
      instanceId: this.config.instanceId,
      at: nowIso(),
    };
    this.nats.emit('audit.admin', record);
  }
}
