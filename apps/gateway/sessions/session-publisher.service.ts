import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { SessionMessageIds, metaOfJoin, nowIso, type LeaveReason, type SessionJoined, type SessionLeft, type SessionUpdated } from '#libs/contracts/index.js';
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

  /** `joined`: the session as it is when it leaves (its meta goes with the leave, as Phoenix's leaves carry it). */
  left(joined: SessionJoined, reason: LeaveReason, sessionId = joined.sessionId) {
    const { userId } = joined;
    const payload: SessionLeft = { sessionId, userId, gatewayId: this.config.instanceId, reason, at: nowIso(), meta: metaOfJoin({ ...joined, sessionId }) };
    return this.nats.emitDurable('session.left', payload, SessionMessageIds.left(sessionId));
  }

  /**
   * `joined`: the session after the change (its status and `statusAt`), `prev` what it replaces.
   * `statusAt` is strictly increasing per session: it orders the changes and keeps their message ids distinct.
   */
  updated(joined: SessionJoined & { statusAt: string }, prev: SessionUpdated['prev']) {
    const { userId, sessionId, statusAt: at } = joined;
    const payload: SessionUpdated = { sessionId, userId, status: joined.status ?? 'visible', at, meta: metaOfJoin(joined), prev };
    return this.nats.emitDurable('session.updated', payload, SessionMessageIds.updated(sessionId, Date.parse(at)));
  }
}
