import { BeforeApplicationShutdown, Inject, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer, type OnGatewayInit } from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import type { Namespace, Socket } from 'socket.io';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import {
  DashboardPage,
  GatewaySessions,
  InternalSubjects,
  SessionStatus,
  nowIso,
  type LeaveReason,
  type SessionJoined,
} from '#libs/contracts/index.js';
import { verifyToken } from '#libs/auth/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry, type LocalSession } from './sessions/session-registry.js';
import { SessionPublisher } from './sessions/session-publisher.service.js';
import { ManagerViewService, userRoom } from './sessions/manager-view.service.js';
import { PresenceFeedService } from './sessions/presence-feed.service.js';

const StatusMessage = z.object({ status: SessionStatus });
const MAX_TIMER_MS = 2 ** 31 - 1;

interface SocketData {
  userId: string;
  name?: string;
  page: string;
  expiresAt?: number;
  sessionId: string;
}

/** Socket.IO 'disconnect' reasons -> the contract's leave reasons. */
function leaveReasonOf(reason: string): LeaveReason {
  if (reason === 'ping timeout' || reason === 'transport error') return 'lost';
  return 'closed';
}

/**
 * The dashboard's Socket.IO endpoint. Thin by design: authenticate, turn each socket into a
 * session, publish joined/left/updated, relay manager state and the presence feed. No presence
 * decision is taken here.
 */
@WebSocketGateway({ namespace: '/presence', cors: { origin: true, credentials: true }, maxHttpBufferSize: 16 * 1024 })
export class PresenceGateway implements OnGatewayInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('PresenceGateway');
  @WebSocketServer() server!: Namespace;
  private heartbeat?: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: SessionRegistry,
    private readonly publisher: SessionPublisher,
    private readonly views: ManagerViewService,
    private readonly feed: PresenceFeedService,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
  ) {}

  afterInit(server: Namespace) {
    this.views.attach(server);
    this.feed.attach(server);
    // Guards do not run on connect: authenticate here; an Error's message is the client's connect_error.
    server.use((socket, next) => {
      void this.authenticate(socket).then(
        (refusal) => {
          if (refusal) this.metrics.connectionsRefused.inc({ reason: refusal });
          next(refusal ? new Error(refusal) : undefined);
        },
        () => next(new Error('unauthorized')),
      );
    });
    server.on('connection', (socket: Socket) => this.connected(socket));
  }

  private async authenticate(socket: Socket): Promise<string | null> {
    if (this.shuttingDown) return 'unavailable';
    const hs = socket.handshake;
    const auth = (hs.auth ?? {}) as Record<string, unknown>;
    const token = auth.token ?? hs.query.token;
    const claims = await verifyToken(this.config.authJwtSecret, token);
    if (!claims) return 'unauthorized';
    const rawPage = auth.page ?? hs.query.page ?? '/dashboard';
    const page = DashboardPage.safeParse(rawPage);
    if (!page.success) return 'bad_request';
    if (this.registry.countFor(claims.userId) >= this.config.maxSessionsPerUser) return 'too_many_sessions';
    const data: SocketData = { userId: claims.userId, name: claims.name, page: page.data, expiresAt: claims.expiresAt, sessionId: randomUUID() };
    socket.data = data;
    return null;
  }

  private connected(socket: Socket) {
    const { userId, page, sessionId, expiresAt } = socket.data as SocketData;
    const joined: SessionJoined = { sessionId, userId, gatewayId: this.config.instanceId, page, at: nowIso(), status: 'visible' };
    const session: LocalSession = { socket, joined, status: 'visible' };
    // socket.handshake keeps what was read from the upgrade request (headers, query); the request
    // itself, kept by Engine.IO for the socket's life, is never read again: a few KiB per session.
    (socket.conn as unknown as { request: unknown }).request = null;
    this.registry.add(session);
    this.metrics.sessions.set(this.registry.size);
    void socket.join(userRoom(userId));
    if (expiresAt !== undefined) {
      session.expiryTimer = setTimeout(() => {
        session.leaveReason = 'expired';
        socket.emit('session_expired', { message: 'token expired' });
        socket.disconnect(true);
      }, Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now())));
    }
    socket.on('disconnect', (reason) => this.disconnected(session, reason));
    void this.publisher.joined(joined);
    void this.views.greet(socket, userId);
    this.logger.debug(`session ${sessionId} of ${userId} connected (${page})`);
  }

  private disconnected(session: LocalSession, reason: string) {
    const { userId, sessionId } = session.joined;
    clearTimeout(session.expiryTimer);
    this.registry.remove(sessionId);
    this.metrics.sessions.set(this.registry.size);
    if (!this.registry.hasUser(userId)) this.views.forget(userId);
    if (session.leftPublished) return;
    const why = session.leaveReason ?? leaveReasonOf(reason);
    this.logger.debug(`session ${sessionId} of ${userId} ended: ${why} (${reason})`);
    void this.publisher.left(userId, sessionId, why);
  }

  @SubscribeMessage('presence:status')
  status(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown) {
    const parsed = StatusMessage.safeParse(body);
    if (!parsed.success) return { error: 'bad_request', message: 'expected {status: "visible"|"hidden"|"idle"}' };
    const session = this.registry.get((socket.data as SocketData).sessionId);
    if (!session) return { error: 'no_session' };
    if (session.status === parsed.data.status) return { ok: true };
    session.status = parsed.data.status;
    session.joined = { ...session.joined, status: parsed.data.status };
    void this.publisher.updated(session.joined.userId, session.joined.sessionId, parsed.data.status);
    return { ok: true };
  }

  @SubscribeMessage('presence:logout')
  logout(@ConnectedSocket() socket: Socket) {
    const session = this.registry.get((socket.data as SocketData).sessionId);
    if (session) session.leaveReason = 'logout';
    return { ok: true };
  }

  @SubscribeMessage('presence:subscribe')
  async subscribe(@ConnectedSocket() socket: Socket) {
    await this.feed.subscribe(socket);
  }

  onApplicationBootstrap() {
    const beat = () =>
      this.nats.publish(InternalSubjects.gatewayHeartbeat(this.config.instanceId), {
        gatewayId: this.config.instanceId,
        sessions: this.registry.size,
        at: nowIso(),
      });
    beat();
    this.heartbeat = setInterval(beat, Math.max(100, Math.floor(this.config.gatewayTtlMs / 3)));
    // Presence lost its state (Redis restarted empty) or missed events: announce every session again.
    this.nats.subscribe(InternalSubjects.gatewayResync, z.unknown(), () => this.resync());
    this.nats.nc.subscribe(InternalSubjects.gatewaySessions(this.config.instanceId), {
      callback: (_err, msg) => {
        const answer: GatewaySessions = { gatewayId: this.config.instanceId, sessions: this.registry.all().map((s) => s.joined) };
        msg.respond(JSON.stringify(answer));
      },
    });
  }

  private resync() {
    const sessions = this.registry.all();
    this.logger.warn(`resync requested: announcing ${sessions.length} session(s) again`);
    const suffix = `-resync-${Date.now()}`;
    for (const s of sessions) void this.publisher.joined(s.joined, suffix);
  }

  /** Graceful stop: every session's leave is stored before the process exits. */
  async beforeApplicationShutdown() {
    this.shuttingDown = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const sessions = this.registry.all();
    await Promise.all(
      sessions.map((s) => {
        s.leftPublished = true;
        return this.publisher.left(s.joined.userId, s.joined.sessionId, 'gateway_down');
      }),
    );
    if (sessions.length > 0) this.logger.log(`published the leave of ${sessions.length} session(s) before stopping`);
    for (const s of sessions) s.socket.disconnect(true);
  }
}
