import { randomUUID } from 'node:crypto';
import type { PresenceNamespace, PresenceSocket, SocketData } from '../socket-types.js';
import type { AppConfig } from '#libs/config/index.js';
import { DashboardPage } from '#libs/contracts/index.js';
import { TokenVerifier } from '#libs/auth/index.js';
import type { Metrics } from '#libs/observability/metrics.js';
import { KeyedBuckets } from '../limits/token-bucket.js';

/** What the handshake checks besides the token: the gateway's own state. */
export interface HandshakeChecks {
  shuttingDown: () => boolean;
  sessionsOf: (userId: string) => number;
  blocked: (userId: string) => boolean;
}

/**
 * Admits a socket to the namespace, or refuses it with the reason its client sees as the
 * `connect_error` message. Guards do not run on connect, so this is a `server.use()` middleware.
 */
export function admitHandshakes(server: PresenceNamespace, config: AppConfig, metrics: Metrics, checks: HandshakeChecks) {
  const tokens = new TokenVerifier({
    secret: config.authJwtSecret,
    jwksUrl: config.authJwksUrl,
    issuer: config.authIssuer,
    audience: config.authAudience,
    maxTtlS: config.authMaxTokenTtlS,
  });
  const handshakes = new KeyedBuckets(config.handshakeRate, config.handshakeBurst);

  /** The refusal, or null with the socket's data set. */
  const authenticate = async (socket: PresenceSocket): Promise<string | null> => {
    const hs = socket.handshake;
    const auth = (hs.auth ?? {}) as Record<string, unknown>;
    // A token in the URL ends up in proxies' and browsers' logs: accepted in development mode only.
    const token = auth.token ?? (config.development ? hs.query.token : undefined);
    const claims = await tokens.verify(token);
    if (!claims) return 'unauthorized';
    const rawPage = auth.page ?? hs.query.page ?? '/dashboard';
    const page = DashboardPage.safeParse(rawPage);
    if (!page.success) return 'bad_request';
    if (checks.sessionsOf(claims.userId) >= config.maxSessionsPerUser) return 'too_many_sessions';
    if (checks.blocked(claims.userId)) return 'session_ended';
    const data: SocketData = { userId: claims.userId, name: claims.name, page: page.data, expiresAt: claims.expiresAt, sessionId: randomUUID() };
    socket.data = data;
    return null;
  };

  server.use((socket, next) => {
    // A client that reached the namespace while this gateway stops: closing its transport makes
    // it retry elsewhere; a refusal here would make it give up.
    if (checks.shuttingDown()) {
      socket.conn.close();
      return next(new Error('unavailable'));
    }
    // Before the token is even verified: a handshake flood from one address costs almost nothing.
    if (!handshakes.take(socket.handshake.address).ok) {
      metrics.connectionsRefused.inc({ reason: 'rate_limited' });
      return next(new Error('rate_limited'));
    }
    void authenticate(socket)
      .catch(() => 'unauthorized')
      .then((refusal) => {
        if (refusal) metrics.connectionsRefused.inc({ reason: refusal });
        next(refusal ? new Error(refusal) : undefined);
      });
  });
}
