import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * The browser-facing headers of every HTTP response, in one place (set by middleware, never by a
 * page): no framing (clickjacking), no MIME sniffing, no referrer leaking a URL, no `X-Powered-By`.
 * Pages get a Content-Security-Policy: only this origin's scripts, styles and connections.
 */
export const BASE_CSP = ["default-src 'self'", "base-uri 'none'", "object-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "img-src 'self' data:"];

/** Hashes of a page's inline <script> and <style> blocks, so a strict policy can allow exactly those. */
export function inlineHashes(html: string): { scripts: string[]; styles: string[] } {
  const hash = (body: string) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
  const scripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => hash(m[1]));
  const styles = [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/g)].map((m) => hash(m[1]));
  return { scripts, styles };
}

/**
 * A strict policy for pages: `default-src 'self'`, plus the hashes of inline blocks of the pages
 * served (none once every page is static files), so no injected script runs.
 */
export function strictCsp(pages: string[] = []): string {
  const scripts = pages.flatMap((p) => inlineHashes(p).scripts);
  const styles = pages.flatMap((p) => inlineHashes(p).styles);
  const extra = [...(scripts.length ? [`script-src 'self' ${scripts.join(' ')}`] : []), ...(styles.length ? [`style-src 'self' ${styles.join(' ')}`] : [])];
  return [...BASE_CSP, ...extra].join('; ');
}

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
