import { BeforeApplicationShutdown, Inject, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer, type OnGatewayInit } from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import type { Msg } from '@nats-io/transport-node';
import type { PresenceNamespace, PresenceSocket, SocketData } from './socket-types.js';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import {
  CLIENT_EVENTS,
  ConsoleMessage,
  DashboardPage,
  GatewayResync,
  InternalSubjects,
  SessionRefused,
  StatusMessage,
  UserSessionsEnded,
  nowIso,
  sessionPages,
  type LeaveReason,
  type SessionJoined,
} from '#libs/contracts/index.js';
import { TokenVerifier } from '#libs/auth/index.js';
import { printable } from '#libs/observability/printable.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry, type LocalSession } from './sessions/session-registry.js';
import { KeyedBuckets } from './limits/token-bucket.js';
import { limitEvents } from './limits/event-limiter.js';
import { SessionPublisher } from './sessions/session-publisher.service.js';
import { ManagerViewService, userRoom } from './sessions/manager-view.service.js';
import { PresenceFeedService } from './sessions/presence-feed.service.js';
import { ConsoleRelayService } from './sessions/console-relay.service.js';
import { EndedUsers } from './sessions/ended-users.js';

/** `presence:console` with no payload asks for the ticks, as `{on: true}` does. */
const ConsoleRequest = ConsoleMessage.nullish();
const KNOWN_EVENTS: ReadonlySet<string> = new Set(CLIENT_EVENTS);
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * PresenceSocket.IO 'disconnect' reasons -> the contract's leave reasons. `closed` only when the client said
 * goodbye (its disconnect()), or when this gateway ended the session and told it why; a transport
 * that ended without a goodbye (a killed or crashed browser, a network cut, a ping timeout) is
 * `lost`. The gateway's own shutdown publishes `gateway_down` itself.
 */
export function leaveReasonOf(reason: string): LeaveReason {
  if (reason === 'client namespace disconnect' || reason === 'server namespace disconnect') return 'closed';
  if (reason === 'server shutting down') return 'gateway_down';
  return 'lost';
}

/**
 * The dashboard's PresenceSocket.IO endpoint. Thin by design: authenticate, turn each socket into a
 * session, publish joined/left/updated, relay manager state and the presence feed. No presence
 * decision is taken here.
 */
// maxHttpBufferSize (SOCKET_MAX_PAYLOAD_BYTES) is set on the server by the adapter in main.ts.
// CORS (and the Origin check) are the adapter's, from CORS_ORIGINS: apps/gateway/main.ts.
@WebSocketGateway({ namespace: '/presence' })
export class PresenceGateway implements OnGatewayInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('PresenceGateway');
  @WebSocketServer() server!: PresenceNamespace;
  private heartbeat?: NodeJS.Timeout;
  private shuttingDown = false;
  private handshakes!: KeyedBuckets;
  /** Names this incarnation: presence ends the sessions of an earlier one under our INSTANCE_ID. */
  private readonly bootId = randomUUID();
  private readonly ended = new EndedUsers();
  private readonly tokens: TokenVerifier;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: SessionRegistry,
    private readonly publisher: SessionPublisher,
    private readonly views: ManagerViewService,
    private readonly feed: PresenceFeedService,
    private readonly consoleRelay: ConsoleRelayService,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
  ) {
    const c = config;
    this.tokens = new TokenVerifier({ secret: c.authJwtSecret, jwksUrl: c.authJwksUrl, issuer: c.authIssuer, audience: c.authAudience, maxTtlS: c.authMaxTokenTtlS });
  }

  afterInit(server: PresenceNamespace) {
    this.views.attach(server);
    this.feed.attach(server);
    this.handshakes = new KeyedBuckets(this.config.handshakeRate, this.config.handshakeBurst);
    this.consoleRelay.attach(server);
    // Guards do not run on connect: authenticate here; an Error's message is the client's connect_error.
    server.use((socket, next) => {
      // A client that reached the namespace while this gateway stops: closing its transport makes
      // it retry elsewhere; a refusal here would make it give up.
      if (this.shuttingDown) {
        socket.conn.close();
        return next(new Error('unavailable'));
      }
      // Before the token is even verified: a handshake flood from one address costs almost nothing.
      if (!this.handshakes.take(socket.handshake.address).ok) {
        this.metrics.connectionsRefused.inc({ reason: 'rate_limited' });
        return next(new Error('rate_limited'));
      }
      void this.authenticate(socket)
        .catch(() => 'unauthorized')
        .then((refusal) => {
          if (refusal) this.metrics.connectionsRefused.inc({ reason: refusal });
          next(refusal ? new Error(refusal) : undefined);
        });
    });
    server.on('connection', (socket: PresenceSocket) => this.connected(socket));
  }

  private async authenticate(socket: PresenceSocket): Promise<string | null> {
    const hs = socket.handshake;
    const auth = (hs.auth ?? {}) as Record<string, unknown>;
    // A token in the URL ends up in proxies' and browsers' logs: accepted in development mode only.
    const token = auth.token ?? (this.config.development ? hs.query.token : undefined);
    const claims = await this.tokens.verify(token);
    if (!claims) return 'unauthorized';
    const rawPage = auth.page ?? hs.query.page ?? '/dashboard';
    const page = DashboardPage.safeParse(rawPage);
    if (!page.success) return 'bad_request';
    if (this.registry.countFor(claims.userId) >= this.config.maxSessionsPerUser) return 'too_many_sessions';
    if (this.ended.blockedUntil(claims.userId) !== null) return 'session_ended';
    const data: SocketData = { userId: claims.userId, name: claims.name, page: page.data, expiresAt: claims.expiresAt, sessionId: randomUUID() };
    socket.data = data;
    return null;
  }

  private connected(socket: PresenceSocket) {
    const { userId, page, sessionId, expiresAt } = socket.data;
    const joined: SessionJoined = { sessionId, userId, gatewayId: this.config.instanceId, page, at: nowIso(), status: 'visible' };
    const session: LocalSession = { socket, joined, status: 'visible' };
    // socket.handshake keeps what was read from the upgrade request (headers, query); the request
    // itself, kept by Engine.IO for the socket's life, is never read again: a few KiB per session.
    (socket.conn as unknown as { request: unknown }).request = null;
    this.registry.add(session);
    this.metrics.sessions.set(this.registry.size);
    this.views.follow(userId);
    void socket.join(userRoom(userId));
    // The project's addition: the page learns which of the user's metas is its own tab.
    socket.emit('session', { sessionId, userId, gatewayId: this.config.instanceId });
    if (expiresAt !== undefined) {
      session.expiryTimer = setTimeout(() => {
        session.leaveReason = 'expired';
        socket.emit('session_expired', { message: 'token expired' });
        socket.disconnect(true);
      }, Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now())));
    }
    limitEvents(socket, {
      ratePerSec: this.config.socketEventRate,
      burst: this.config.socketEventBurst,
      known: KNOWN_EVENTS,
      onUnknown: (event) => this.logger.warn(`session ${sessionId} of ${userId} sent unknown event "${printable(event)}"; ignored (logged once per session)`),
      onThrottled: () => this.metrics.socketEventsThrottled.inc(),
      onFlood: () => this.cutOff(session, 'rate_limited', 'too many events: the session is closed'),
    });
    socket.on('disconnect', (reason, description) => this.disconnected(session, reason, description));
    void this.announce(session);
    void this.views.greet(socket, userId);
    this.logger.debug(`session ${sessionId} of ${userId} connected (${page})`);
  }

  /** Ends a session for a limit, misbehaviour or an operator: the client is told why before the disconnect. */
  private cutOff(session: LocalSession, reason: 'rate_limited' | 'too_many_sessions' | 'ended_by_operator', message: string, until?: string) {
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
    if (this.shuttingDown || !session.socket.connected) return;
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

  private disconnected(session: LocalSession, reason: string, description?: unknown) {
    const { userId, sessionId } = session.joined;
    // An oversized message makes the transport fail (WebSocket close 1009); say so, it is otherwise invisible.
    const detail = description instanceof Error ? description.message : '';
    if (/max payload/i.test(detail)) {
      this.logger.warn(`session ${sessionId} of ${userId} cut off: payload_too_large (a message over SOCKET_MAX_PAYLOAD_BYTES=${this.config.socketMaxPayloadBytes})`);
      this.metrics.sessionsCutOff.inc({ reason: 'payload_too_large' });
      session.leaveReason ??= 'closed';
    } else if (detail) {
      this.logger.debug(`session ${sessionId} of ${userId}: ${reason} (${detail})`);
    }
    clearTimeout(session.expiryTimer);
    this.registry.remove(sessionId);
    this.metrics.sessions.set(this.registry.size);
    if (!this.registry.hasUser(userId)) this.views.forget(userId);
    this.consoleRelay.release(userId);
    if (session.leftPublished) return;
    const why = session.leaveReason ?? leaveReasonOf(reason);
    this.logger.debug(`session ${sessionId} of ${userId} ended: ${why} (${reason})`);
    void this.publisher.left(session.joined, why);
  }

  @SubscribeMessage('presence:status')
  status(@ConnectedSocket() socket: PresenceSocket, @MessageBody() body: unknown) {
    const parsed = StatusMessage.safeParse(body);
    if (!parsed.success) return { error: 'bad_request', message: 'expected {status: "visible"|"hidden"|"idle"}' };
    const session = this.registry.get(socket.data.sessionId);
    if (!session) return { error: 'no_session' };
    if (session.status === parsed.data.status) return { ok: true };
    const prev = { status: session.status, statusAt: session.joined.statusAt ?? session.joined.at };
    session.status = parsed.data.status;
    // Two changes within one millisecond would share a time (and a JetStream message id, so the
    // second would be dropped as a duplicate, and a Phoenix phx_ref): each change is stamped strictly after the last.
    session.statusAtMs = Math.max(Date.now(), Date.parse(session.joined.at) + 1, (session.statusAtMs ?? 0) + 1);
    // The join announced again later (a resync) says when this status was set: the same meta version.
    const joined = { ...session.joined, status: parsed.data.status, statusAt: nowIso(session.statusAtMs) };
    session.joined = joined;
    void this.publisher.updated(joined, prev);
    return { ok: true };
  }

  @SubscribeMessage('presence:logout')
  logout(@ConnectedSocket() socket: PresenceSocket) {
    const session = this.registry.get(socket.data.sessionId);
    if (session) session.leaveReason = 'logout';
    return { ok: true };
  }

  @SubscribeMessage('presence:subscribe')
  async subscribe(@ConnectedSocket() socket: PresenceSocket) {
    await this.feed.subscribe(socket);
  }

  @SubscribeMessage('presence:console')
  async console(@ConnectedSocket() socket: PresenceSocket, @MessageBody() body: unknown) {
    const parsed = ConsoleRequest.safeParse(body);
    if (!parsed.success) return { error: 'bad_request', message: 'expected nothing, or {on: true|false}' };
    const { userId } = socket.data;
    if (parsed.data?.on === false) await this.consoleRelay.unwatch(socket, userId);
    else await this.consoleRelay.watch(socket, userId);
    return { ok: true };
  }

  onApplicationBootstrap() {
    const beat = () =>
      this.nats.emit('gateway.heartbeat', {
        gatewayId: this.config.instanceId,
        sessions: this.registry.size,
        digest: this.registry.digest,
        at: nowIso(),
        bootId: this.bootId,
      });
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
      // Manager events sent meanwhile never reached us: what the tabs were last told may be stale.
      for (const userId of this.registry.users()) void this.views.refresh(userId);
    });
    // Answered before the first heartbeat goes out: a new boot id makes presence ask at once.
    this.nats.nc.subscribe(InternalSubjects.gatewaySessions(this.config.instanceId), { callback: (_err, msg) => this.listSessions(msg) });
    beat();
    this.heartbeat = setInterval(beat, Math.max(100, Math.floor(this.config.gatewayTtlMs / 3)));
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
    if (this.shuttingDown) return;
    const all = this.registry.all();
    const sessions = afterSeq === undefined ? all : all.filter((s) => s.joinSeq === undefined || s.joinSeq <= afterSeq);
    const since = all.length - sessions.length;
    this.logger.warn(`resync requested: announcing ${sessions.length} session(s) again${since > 0 ? ` (${since} joined since: presence has them from the stream)` : ''}`);
    const suffix = `-resync-${Date.now()}`;
    for (const s of sessions) void this.announce(s, suffix);
  }

  /** Publishes the session's join and keeps where the stream stored it (see resync). */
  private announce(session: LocalSession, msgIdSuffix = '') {
    return this.publisher.joined(session.joined, msgIdSuffix).then((seq) => {
      if (seq !== null) session.joinSeq = Math.max(session.joinSeq ?? 0, seq);
    });
  }

  /**
   * Graceful stop. The listener closes first, so a reconnecting client's load balancer finds this
   * gateway gone at once and sends it to another (a handshake this gateway refused would cost the
   * client its back-off, seconds of a grace that may be short); a request on a connection already
   * open is refused at the transport (a refusal by the namespace would tell the client never to
   * retry). Then every socket's transport is closed (its client sees `transport close` and
   * reconnects by itself) and every session's leave is stored before the process exits. A
   * namespace disconnect (`io server disconnect`) would tell the clients never to come back.
   */
  async beforeApplicationShutdown() {
    this.shuttingDown = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.server.server.httpServer?.close();
    this.server.server.engine.opts.allowRequest = (_req, callback) => callback('shutting down', false);
    const sessions = this.registry.all();
    for (const s of sessions) {
      s.leftPublished = true;
      s.socket.conn.close();
    }
    await Promise.all(sessions.map((s) => this.publisher.left(s.joined, 'gateway_down')));
    if (sessions.length > 0) this.logger.log(`closed ${sessions.length} session(s) (their tabs reconnect) and published their leaves before stopping`);
  }
}
