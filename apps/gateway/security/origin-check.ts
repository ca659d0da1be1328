import type { IncomingMessage } from 'node:http';

/**
 * Whether a Socket.IO handshake may proceed by its Origin header (CORS_ORIGINS). A browser always
 * sends Origin on a WebSocket upgrade and a cross-origin request, and a page cannot forge it: a
 * foreign site's page trying to ride a user's session is stopped here. No Origin header is not a
 * browser (a service, a test client, the NATS-side tools): CORS does not apply to it, its token does.
 * Empty list: the gateway's own origin only (the dashboard it serves); `*`: any.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || origin === '') return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    // Same origin: the page was served by this host (scheme aside: a TLS proxy may sit in front).
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** Socket.IO's `allowRequest`: refuses a handshake from a foreign origin with 403. */
export function originGuard(allowed: readonly string[]) {
  return (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => {
    const ok = originAllowed(req.headers.origin, req.headers.host, allowed);
    callback(ok ? null : 'origin not allowed', ok);
  };
}
