import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import {
  AuditSubjects,
  UserSubjects,
  nowIso,
  type AdminAudit,
  type AdminPurgeGatewayRequest,
  type AdminResult,
  type AdminStopRequest,
  type OfflineReason,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { PresenceService } from './presence.service.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { GatewayLivenessService } from './gateway-liveness.service.js';

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
  async stop(req: AdminStopRequest): Promise<AdminResult> {
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
        this.nats.publish(UserSubjects.offline(userId), { userId, at: nowIso(), reason: 'admin' satisfies OfflineReason });
        result = { outcome: 'done', target: userId, message: `${userId} is not present; asked ${manager.workerId} to stop its manager (admin)` };
      } else {
        result = { outcome: 'nothing_to_do', target: userId, message: `no manager runs for ${userId} and no cleanup is pending` };
      }
    }
    this.audit('stop', result, req.by);
    return result;
  }

  /** Ends every session of a gateway that is gone, without waiting GATEWAY_TTL_MS. Refused while it answers. */
  async purgeGateway(req: AdminPurgeGatewayRequest): Promise<AdminResult> {
    const { gatewayId } = req;
    let result: AdminResult;
    if (await this.liveness.gatewayAnswers(gatewayId)) {
      result = { outcome: 'refused', target: gatewayId, message: `gateway ${gatewayId} is alive (it answered): its sessions are its own` };
    } else {
      const ended = await this.liveness.endGatewaySessions(gatewayId);
      const users = [...new Set(ended.map((s) => s.userId))].sort();
      result =
        ended.length === 0
          ? { outcome: 'nothing_to_do', target: gatewayId, message: `no session is recorded for gateway ${gatewayId}`, users, sessions: 0 }
          : {
              outcome: 'done',
              target: gatewayId,
              message: `ended ${ended.length} session(s) of ${users.length} user(s) of gateway ${gatewayId} (gateway_down)`,
              users,
              sessions: ended.length,
            };
    }
    this.audit('purge_gateway', result, req.by);
    return result;
  }

  private audit(action: AdminAudit['action'], result: AdminResult, by?: string) {
    this.metrics.adminActions.inc({ action, outcome: result.outcome });
    const line = `${action} ${result.target}${by ? ` by ${by}` : ''}: ${result.outcome}: ${result.message}`;
    if (result.outcome === 'refused') this.logger.warn(line);
    else this.logger.log(line);
    const record: AdminAudit = { action, target: result.target, outcome: result.outcome, message: result.message, by, instanceId: this.config.instanceId, at: nowIso() };
    this.nats.publish(AuditSubjects.admin(action), record);
  }
}
