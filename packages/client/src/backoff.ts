/** After the server ended the connection (socket.io-client never retries that), wait this long, doubling to the cap. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/**
 * When to try connecting again: exponential backoff, and never before a time the gateway named (an
 * operator's block: coming back earlier would only be refused).
 */
export class Backoff {
  private next = RETRY_MIN_MS;
  private notBefore = 0;

  /** Connected: the next failure starts from the shortest wait again. */
  reset() {
    this.next = RETRY_MIN_MS;
  }

  holdUntil(ms: number) {
    if (Number.isFinite(ms)) this.notBefore = Math.max(this.notBefore, ms);
  }

  /** The wait before the next attempt (and the one after it doubles). */
  take(now: number): number {
    const delay = Math.max(this.next, this.notBefore - now);
    this.next = Math.min(RETRY_MAX_MS, this.next * 2);
    return delay;
  }
}
