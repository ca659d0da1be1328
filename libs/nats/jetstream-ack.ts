import type { Msg } from '@nats-io/transport-node';

/** Reads JetStream's answer to a publish: the stream sequence it was stored under, or why it was not (no stream listening: 503, or the API's error answer). */
export function readAck(msg: Msg): { seq: number } | { error: string } {
  if (msg.headers?.hasError) return { error: `${msg.headers.code} ${msg.headers.description || 'no responders'}`.trim() };
  if (msg.data.length === 0) return { error: 'empty ack' };
  try {
    const ack = JSON.parse(msg.string()) as { error?: { description?: string; code?: number }; stream?: string; seq?: number };
    if (ack.error) return { error: `${ack.error.code ?? ''} ${ack.error.description ?? 'error'}`.trim() };
    return ack.stream && typeof ack.seq === 'number' ? { seq: ack.seq } : { error: 'not a JetStream ack' };
  } catch {
    return { error: 'not a JetStream ack' };
  }
}

/**
 * Failed publishes told once per turn of the loop and reason (`count` of them, `subject` one
 * example): thousands failing together, when NATS is away, make one log line, not thousands.
 */
export class RetryReport {
  private readonly byReason = new Map<string, { subject: string; attempt: number; count: number }>();

  constructor(private readonly report?: (subject: string, why: string, attempt: number, count: number) => void) {}

  note(subject: string, why: string, attempt: number): void {
    if (!this.report) return;
    if (this.byReason.size === 0) setImmediate(() => this.flush());
    const r = this.byReason.get(why);
    if (r) r.count++;
    else this.byReason.set(why, { subject, attempt, count: 1 });
  }

  private flush(): void {
    for (const [why, { subject, attempt, count }] of this.byReason) this.report?.(subject, why, attempt, count);
    this.byReason.clear();
  }
}
