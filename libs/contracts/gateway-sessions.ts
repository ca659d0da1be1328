import { parseMessage, GatewaySessions } from './schemas.js';

/**
 * A gateway's list of its sessions, asked by presence to reconcile its state, travels in pages:
 * ten thousand sessions are about 2 MB of JSON, over NATS's max_payload (1 MB by default), and a
 * reply over it is refused by the client (before this, by an exception inside the gateway's NATS
 * callback, which closed its connection). The gateway answers every page of one list taken at once,
 * then an empty message; presence acts only on a complete list: a session missing from a partial
 * one would be ended although it is live.
 */

/** The pages of one list: each page's JSON stays under `maxBytes`, every session (already JSON) in exactly one. */
export function sessionPages(gatewayId: string, asOf: string, sessionsJson: string[], maxBytes: number): string[] {
  // Characters, not bytes: a character takes at most 3 bytes in UTF-8 (the schemas allow only ASCII
  // today, so pages are a third full: a margin, not a cost that matters), and the envelope is small.
  const budget = Math.max(1, Math.floor(maxBytes / 3) - 256);
  const groups: string[][] = [[]];
  let size = 0;
  for (const item of sessionsJson) {
    if (size + item.length + 1 > budget && groups[groups.length - 1].length > 0) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(item);
    size += item.length + 1;
  }
  const head = (page: number) => `{"gatewayId":${JSON.stringify(gatewayId)},"asOf":${JSON.stringify(asOf)},"page":${page},"pages":${groups.length},"sessions":[`;
  return groups.map((items, page) => `${head(page)}${items.join(',')}]}`);
}

/** The whole list from its pages, or why it cannot be trusted (a page missing, or from another list). */
export function assembleSessionPages(raw: Array<string | Uint8Array>): { ok: true; value: GatewaySessions } | { ok: false; error: string } {
  if (raw.length === 0) return { ok: false, error: 'no answer' };
  const pages: GatewaySessions[] = [];
  for (const r of raw) {
    const parsed = parseMessage(GatewaySessions, r);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    pages.push(parsed.value);
  }
  const first = pages[0];
  const expected = first.pages ?? 1;
  const seen = new Set<number>();
  for (const p of pages) {
    if (p.gatewayId !== first.gatewayId || p.asOf !== first.asOf || (p.pages ?? 1) !== expected) return { ok: false, error: 'pages of different lists' };
    // An index past the count would stand in for a page that never came.
    if ((p.page ?? 0) >= expected) return { ok: false, error: `page ${p.page} of ${expected}` };
    seen.add(p.page ?? 0);
  }
  if (seen.size !== expected || pages.length !== expected) return { ok: false, error: `${seen.size} of ${expected} page(s) arrived` };
  return { ok: true, value: { gatewayId: first.gatewayId, asOf: first.asOf, sessions: pages.flatMap((p) => p.sessions) } };
}
