import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { SessionMessageIds, nowIso, type LeaveReason, type SessionJoined, type SessionStatus } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';

/**
 * Publishes session events durably (JetStream acknowledges each one, retried until it does).
 * The message id lets JetStream drop the duplicate a retry creates.
 */
@Injectable()
export class SessionPublisher {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nats: NatsService,
  ) {}

  /** Resolves with the stream sequence of the stored join (null: the app closed first). */
  joined(j: SessionJoined, msgIdSuffix = '') {
    return this.nats.emitDurable('session.joined', j, SessionMessageIds.joined(j.sessionId, msgIdSuffix));
  }

  left(userId: string, sessionId: string, reason: LeaveReason) {
    const payload = { sessionId, userId, gatewayId: this.config.instanceId, reason, at: nowIso() };
    return this.nats.emitDurable('session.left', payload, SessionMessageIds.left(sessionId));
  }

  /** `atMs` is strictly increasing per session: it orders the changes and keeps their message ids distinct. */
  updated(userId: string, sessionId: string, status: SessionStatus, atMs: number) {
    const at = nowIso(atMs);
    return this.nats.emitDurable('session.updated', { sessionId, userId, status, at }, SessionMessageIds.updated(sessionId, atMs));
  }
}
