import type { PresenceSocket } from '../socket-types.js';
import type { RateLimitedAnswer } from '#libs/contracts/index.js';
import { TokenBucket } from './token-bucket.js';

export interface EventLimiterOptions {
  ratePerSec: number;
  burst: number;
  /** Events the gateway handles; anything else is dropped here. */
  known: ReadonlySet<string>;
  onUnknown: (event: string) => void;
  onThrottled: () => void;
  /** The socket kept flooding through the throttle: end it. */
  onFlood: () => void;
}

/**
 * Per-socket guard on incoming events, as PresenceSocket.IO middleware (it runs before any handler).
 * Over budget, an event is dropped and answered with `rate_limited` (its ack if it asked for one,
 * else one `rate_limited` event when throttling begins). A socket that keeps sending through the
 * throttle, more than `burst` dropped events in a row, is cut off.
 */
export function limitEvents(socket: PresenceSocket, opts: EventLimiterOptions) {
  const bucket = new TokenBucket(opts.ratePerSec, opts.burst);
  let droppedInARow = 0;
  let unknownLogged = false;
  socket.use((packet, next) => {
    const [event] = packet;
    const ack = typeof packet[packet.length - 1] === 'function' ? (packet[packet.length - 1] as (answer: unknown) => void) : undefined;
    if (!bucket.take()) {
      droppedInARow++;
      opts.onThrottled();
      const answer: RateLimitedAnswer = { error: 'rate_limited', message: `more than ${opts.ratePerSec} events per second`, retryAfterMs: bucket.retryAfterMs };
      if (ack) ack(answer);
      else if (droppedInARow === 1) socket.emit('rate_limited', answer);
      if (droppedInARow > opts.burst) opts.onFlood();
      return;
    }
    droppedInARow = 0;
    if (typeof event !== 'string' || !opts.known.has(event)) {
      if (!unknownLogged) opts.onUnknown(String(event).slice(0, 64));
      unknownLogged = true;
      if (ack) ack({ error: 'unknown_event' });
      return;
    }
    next();
  });
}
