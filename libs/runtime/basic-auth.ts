import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Failed logins one address may make per window before it is turned away (429) until the window ends. */
export const LOGIN_FAILURES_PER_WINDOW = 10;
export const LOGIN_WINDOW_MS = 60_000;
/** Addresses remembered at most: a flood of addresses cannot grow the map without bound. */
const MAX_TRACKED = 10_000;

/**
 * Express middleware: HTTP basic auth against one user, compared in constant time. Guessing is
 * rate-limited per client address: after LOGIN_FAILURES_PER_WINDOW wrong answers within
 * LOGIN_WINDOW_MS, that address gets 429 (right password or not) until the window is over.
 */
export function basicAuth(user: string, password: string, realm: string, now: () => number = Date.now) {
  const expected = digest(`${user}:${password}`);
  const failures = new Map<string, { count: number; since: number }>();
  return (req: Request, res: Response, next: NextFunction) => {
    const address = req.socket.remoteAddress ?? 'unknown';
    const t = now();
    let f = failures.get(address);
    if (f && t - f.since >= LOGIN_WINDOW_MS) {
      failures.delete(address);
      f = undefined;
    }
    if (f && f.count >= LOGIN_FAILURES_PER_WINDOW) {
      res.setHeader('Retry-After', String(Math.ceil((f.since + LOGIN_WINDOW_MS - t) / 1000)));
      res.status(429).send('too many failed logins from this address; try again later');
      return;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    const given = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
    if (m && timingSafeEqual(digest(given), expected)) return next();
    // A request without credentials is a browser asking for the login prompt, not a guess.
    if (m) {
      if (!f && failures.size >= MAX_TRACKED) failures.delete(failures.keys().next().value as string);
      failures.set(address, { count: (f?.count ?? 0) + 1, since: f?.since ?? t });
    }
    res.setHeader('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`);
    res.status(401).send('authentication required');
  };
}
