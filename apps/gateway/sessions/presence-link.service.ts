import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Msg } from '@nats-io/transport-node';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { GatewayResync, InternalSubjects, SessionRefused, UserSessionsEnded, nowIso, sessionPages } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry, type LocalSession } from './session-registry.js';
import { SessionPublisher } from './session-publisher.service.js';
import { ManagerViewService } from './manager-view.service.js';
import { EndedUsers } from './ended-users.js';

export type CutOffReason = 'rate_limited' | 'too_many_sessions' | 'ended_by_operator';

/**
 * This gateway's side of presence's bookkeeping: the heartbeat, announcing sessions (each join,
 * and all of them again on a resync request or a reconnect), listing them when presence
 * reconciles, and acting on presence's word about one session (refused, ended by an operator).
 */
@Injectable()
export class PresenceLinkService implements OnApplicationBootstrap {
  private readonly logger = new Logger('PresenceGateway');
  private heartbeat?: NodeJS.Timeout;
  private stopping = false;
  /** Names this incarnation: presence ends the sessions of an earlier one under our INSTANCE_ID. */
  private readonly bootId = randomUUID();
  /** Users an operator ended, refused at the handshake for a while. */
  readonly ended = new EndedUsers();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: SessionRegistry,
    private readonly publisher: SessionPublisher,
    private readonly views: ManagerViewService,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
  ) {}

  get shuttingDown(): boolean {
    return this.stopping;
  }

  onApplicationBootstrap() {
    const beat = () => this.nats.emit('gateway.heartbeat', { gatewayId: this.config.instanceId, sessions: this.registry.size, digest: this.registry.digest, at: nowIso(), bootId: this.bootId });
    // Presence lost its state (Redis restarted empty) or missed events: announce every session again.
    this.nats.subscribe(InternalSubjects.gatewayResync, GatewayResync, (r) => this.resync(r.afterSeq));
    // Presence will not hold a session: over the user's cap (counted across gateways), end it;
    // already ended there (we were cut off from NATS too long), carry the socket on under a new id.
    // A refusal naming a session we no longer hold (closed, or re-keyed already) is stale: dropped.
    this.nats.subscribe(InternalSubjects.sessionRefused(this.config.instanceId), SessionRefused, (r) => {
      const session = this.registry.get(r.sessionId);
      if (!session || session.joined.userId !== r.userId) return;
      if (r.reason === 'gone') this.rekey(session);
      else if (r.reason === 'blocked') this.cutOff(session, 'ended_by_operator', 'the sessions of this user were ended by an operator a moment ago');
      else this.cutOff(session, r.reason, `more than ${this.config.maxSessionsPerUser} sessions for this user`);
    });
    // An operator ended this user's sessions: close them here, and refuse the user's tabs a while.
    this.nats.subscribe(InternalSubjects.userSessionsEnded, UserSessionsEnded, (r) => {
      this.ended.block(r.userId, Date.parse(r.until));
      for (const s of this.registry.sessionsOf(r.userId)) this.cutOff(s, 'ended_by_operator', r.reason, r.until);
    });
    // A resync request broadcast while we were cut off from NATS never reached us: announce anyway.
    this.nats.onReconnect(() => {
      beat();
      this.resync();
    });
    // Answered before the first heartbeat goes out: a new boot id makes presence ask at once.
    this.nats.nc.subscribe(InternalSubjects.gatewaySessions(this.config.instanceId), { callback: (_err, msg) => this.listSessions(msg) });
    beat();
    this.heartbeat = setInterval(beat, Math.max(100, Math.floor(this.config.gatewayTtlMs / 3)));
  }

  /** The gateway stops: no more heartbeats, resyncs nor re-keys. */
  stop() {
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  /** Ends a session for a limit, misbehaviour or an operator: the client is told why before the disconnect. */
  cutOff(session: LocalSession, reason: CutOffReason, message: string, until?: string) {
    if (!session.socket.connected) return;
    const { userId, sessionId } = session.joined;
    this.logger.warn(`session ${sessionId} of ${userId} cut off: ${reason}`);
    this.metrics.sessionsCutOff.inc({ reason });
    session.socket.emit('session_ended', until ? { reason, message, until } : { reason, message });
    session.socket.disconnect(true);
  }

  /**
   * Presence ended this session while its socket stayed with us (our NATS link was down past
   * GATEWAY_TTL_MS, so presence took us for dead): its id is tombstoned and can never join again.
   * The socket becomes a new session: new id, a fresh durable join (the user's manager comes back),
   * and the tab is told its new id. No client action, no reconnect. The old id's leave is repeated
   * so every presence feed drops the old meta (presence itself ignores it: already gone).
   */
  private rekey(session: LocalSession) {
    if (this.stopping || !session.socket.connected) return;
    const { userId, sessionId: old } = session.joined;
    const sessionId = randomUUID();
    this.registry.remove(old);
    const oldJoined = session.joined;
    session.joined = { ...session.joined, sessionId, at: nowIso(), status: session.status, statusAt: undefined };
    session.socket.data.sessionId = sessionId;
    this.registry.add(session);
    this.metrics.sessionsRekeyed.inc();
    this.logger.warn(`session ${old} of ${userId} was ended by presence while its socket is still here (NATS cut off?): it goes on as session ${sessionId}`);
    session.socket.emit('session', { sessionId, userId, gatewayId: this.config.instanceId });
    void this.publisher.left(oldJoined, 'gateway_down');
    void this.announce(session).then(() => this.views.refresh(userId));
  }

  /**
   * Every session here, for presence's reconcile: the pages of one list, then an empty message (see
   * gateway-sessions.ts). Never throws: an exception in a NATS callback closes the connection.
   */
  private listSessions(msg: Msg) {
    try {
      const maxPayload = this.nats.nc.info?.max_payload ?? 1024 * 1024;
      const sessions = this.registry.all().map((s) => JSON.stringify(s.joined));
      for (const page of sessionPages(this.config.instanceId, nowIso(), sessions, maxPayload)) msg.respond(page);
      msg.respond();
    } catch (err) {
      this.logger.error(`could not list this gateway's sessions for presence: ${(err as Error).message}`);
    }
  }

  /**
   * Announces our sessions again. `afterSeq` (presence's state began when the stream was there): a
   * join stored past it reaches that state through the stream, and announcing it again stored it
   * twice (a duplicate join on NATS for every tab opened in the second before the first-start
   * resync). A join not acknowledged yet is announced: where it was stored is not known.
   */
  private resync(afterSeq?: number) {
    if (this.stopping) return;
    const all = this.registry.all();
    const sessions = afterSeq === undefined ? all : all.filter((s) => s.joinSeq === undefined || s.joinSeq <= afterSeq);
    const since = all.length - sessions.length;
    this.logger.warn(`resync requested: announcing ${sessions.length} session(s) again${since > 0 ? ` (${since} joined since: presence has them from the stream)` : ''}`);
    const suffix = `-resync-${Date.now()}`;
    for (const s of sessions) void this.announce(s, suffix);
  }

  /** Publishes the session's join and keeps where the stream stored it (see resync). */
  announce(session: LocalSession, msgIdSuffix = '') {
    return this.publisher.joined(session.joined, msgIdSuffix).then((seq) => {
      if (seq !== null) session.joinSeq = Math.max(session.joinSeq ?? 0, seq);
    });
  }
}
