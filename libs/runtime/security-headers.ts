import type { NextFunction, Request, Response } from 'express';

/**
 * The browser-facing headers of every HTTP response, in one place (set by middleware, never by a
 * page): no framing (clickjacking), no MIME sniffing, no referrer leaking a URL, no `X-Powered-By`.
 * Pages get this Content-Security-Policy: only this origin's scripts, styles and connections. The
 * dashboard is static files with no inline block, so no hash or nonce is needed and no injected
 * script can run.
 */
export const STRICT_CSP = ["default-src 'self'", "base-uri 'none'", "object-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "img-src 'self' data:"].join('; ');

/**
 * Framing, sniffing and referrer rules for everything; `csp(path)` the policy of a path (undefined:
 * only `frame-ancestors 'none'`, for pages whose scripts this project does not write, the board's).
 */
export function securityHeaders(csp: (path: string) => string | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    res.removeHeader('X-Powered-By');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', csp(req.path) ?? "frame-ancestors 'none'; object-src 'none'; base-uri 'self'");
    next();
  };
}

/** Express's own `X-Powered-By: Express` off, and the headers above on every route of the app. */
export function applySecurityHeaders(app: { getHttpAdapter(): { getInstance(): unknown } ; use(...h: unknown[]): unknown }, csp: (path: string) => string | undefined) {
  const express = app.getHttpAdapter().getInstance() as { disable?(name: string): void };
  express.disable?.('x-powered-by');
  app.use(securityHeaders(csp));
}
