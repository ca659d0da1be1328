import type { Msg, NatsConnection } from '@nats-io/transport-node';

/** A failure the operator is told about in one line; `code` is the exit status (2: bad arguments). */
export class Failure extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** What a command prints and the exit status it ends with. */
export interface Output {
  out: string;
  code: number;
}

/** Columns padded to their widest cell; an empty table says so. */
export function table(headers: string[], rows: Array<Array<string | number>>, empty = '(none)'): string {
  if (rows.length === 0) return `${empty}\n`;
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n')}\n`;
}

export const section = (title: string, body: string) => `${title}\n${body}\n`;

export const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** "in 1.2 s" / "3.4 s ago" relative to now. */
export function relative(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = Date.parse(iso) - Date.now();
  const s = (Math.abs(d) / 1000).toFixed(1);
  return d >= 0 ? `in ${s} s` : `${s} s ago`;
}

/** A request to a service, its JSON answer, or a Failure saying plainly what went wrong. */
export async function request<T>(nc: NatsConnection, subject: string, body: unknown, service: string, timeoutMs = 5000): Promise<T> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, body === undefined ? '' : JSON.stringify(body), { timeout: timeoutMs });
  } catch (err) {
    const e = err as Error & { isNoResponders?: () => boolean };
    if (e.isNoResponders?.() || /no responders/i.test(String(e.message) + String((e as { cause?: unknown }).cause))) {
      throw new Failure(`nothing answers on ${subject}: is the ${service} app running?`);
    }
    throw new Failure(`${subject}: no answer from ${service} (${e.message})`);
  }
  const text = msg.string();
  const error = msg.headers?.get('Nats-Service-Error');
  if (error) throw new Failure(`${subject}: ${service} answered ${msg.headers?.get('Nats-Service-Error-Code') ?? ''} ${error}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Failure(`${subject}: ${service} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** `30s`, `10m`, `1h`, `2d` -> milliseconds; null for anything else. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  const ms = Number(m[1]) * unit;
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** `--since`: a duration back from now, or an ISO-8601 time. */
export function parseSince(text: string, now = Date.now()): Date | null {
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now - ms);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : new Date(t);
}
