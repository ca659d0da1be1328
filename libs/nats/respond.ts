import type { Msg, NatsConnection } from '@nats-io/transport-node';

/** Why a JSON answer cannot be sent in one NATS message, or null when it can. */
export function oversize(nc: NatsConnection, body: string): string | null {
  const bytes = Buffer.byteLength(body);
  const max = nc.info?.max_payload ?? Infinity;
  return bytes > max ? `the answer is ${bytes} bytes, over the NATS server's max_payload of ${max}` : null;
}

/**
 * Answers a request with JSON from a plain subscription callback, and never throws: an exception in
 * a NATS callback closes the client's connection, and an answer over the server's max_payload is
 * one (10,000 managers listed are about 2 MB). Such an answer is replaced by `{error}` saying so.
 */
export function respondJson(nc: NatsConnection, msg: Msg, value: unknown): void {
  try {
    const body = JSON.stringify(value);
    const tooLarge = oversize(nc, body);
    msg.respond(tooLarge ? JSON.stringify({ error: tooLarge }) : body);
  } catch (err) {
    try {
      msg.respond(JSON.stringify({ error: (err as Error).message }));
    } catch {
      // The connection is closing: nobody is waiting for this answer any more.
    }
  }
}
