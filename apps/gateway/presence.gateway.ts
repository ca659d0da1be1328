import { BeforeApplicationShutdown, Inject, Logger } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer, type OnGatewayInit } from '@nestjs/websockets';
import type { PresenceNamespace, PresenceSocket } from './socket-types.js';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { CLIENT_EVENTS, ConsoleMessage, StatusMessage, nowIso, type LeaveReason, type SessionJoined } from '#libs/contracts/index.js';
import { printable } from '#libs/observability/printable.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry, type LocalSession } from './sessions/session-registry.js';
import { limitEvents } from './limits/event-limiter.js';
import { SessionPublisher } from './sessions/session-publisher.service.js';
import { ManagerViewService, userRoom } from './sessions/manager-view.service.js';
import { PresenceFeedService } from './sessions/presence-feed.service.js';
import { ConsoleRelayService } from './sessions/console-relay.service.js';
import { PresenceLinkService } from './sessions/presence-link.service.js';
import { admitHandshakes } from './security/handshake.js';

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
 * The dashboard's PresenceSocket.IO endpoint. Thin by design: admit each socket (security/handshake.ts),
 * turn it into a session, publish joined/left/updated, relay manager state and the presence feed.
 * No presence decision is taken here; the heartbeat and presence's requests are PresenceLinkService's.
 */
// maxHttpBufferSize (SOCKET_MAX_PAYLOAD_BYTES) is set on the server by the adapter in main.ts.
// CORS (and the Origin check) are the adapter's, from CORS_ORIGINS: apps/gateway/main.ts.
@WebSocketGateway({ namespace: '/presence' })
export class PresenceGateway implements OnGatewayInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('PresenceGateway');
  @WebSocketServer() server!: PresenceNamespace;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: SessionRegistry,
    private readonly publisher: SessionPublisher,
    private readonly views: ManagerViewService,
    private readonly feed: PresenceFeedService,
    private readonly consoleRelay: ConsoleRelayService,
    private readonly link: PresenceLinkService,
    private readonly metrics: Metrics,
  ) {}

  afterInit(server: PresenceNamespace) {
    this.views.attach(server);
    this.feed.attach(server);
    this.consoleRelay.attach(server);
    admitHandshakes(server, this.config, this.metrics, {
      shuttingDown: () => this.link.shuttingDown,
      sessionsOf: (userId) => this.registry.countFor(userId),
      blocked: (userId) => this.link.ended.blockedUntil(userId) !== null,
    });
    server.on('connection', (socket: PresenceSocket) => this.connected(socket));
  }

  private connected(socket: PresenceSocket) {
    const { userId, page, sessionId, expiresAt } = socket.data;
    const joined: SessionJoined = { sessionId, userId, gatewayId: this.config.instanceId, page, at: nowIso(), status: 'visible' };
    const session: LocalSession = { socket, joined, status: 'visible' };
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
      onFlood: () => this.link.cutOff(session, 'rate_limited', 'too many events: the session is closed'),
    });
    socket.on('disconnect', (reason, description) => this.disconnected(session, reason, description));
    void this.link.announce(session);
    this.views.greet(socket, userId);
    this.logger.debug(`session ${sessionId} of ${userId} connected (${page})`);
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
    this.link.stop();
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
