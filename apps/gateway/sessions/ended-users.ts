/**
 * Users whose sessions an operator ended, until when. Their new handshakes are refused here at
 * once; presence refuses their joins too (the same block, kept in Redis), which covers a gateway
 * that started after the operator acted.
 */
export class EndedUsers {
  private readonly until = new Map<string, number>();

  block(userId: string, untilMs: number) {
    if (Number.isFinite(untilMs) && untilMs > Date.now()) this.until.set(userId, untilMs);
  }

  /** When the user's block ends, or null when they are not blocked. Expired entries are forgotten. */
  blockedUntil(userId: string, now = Date.now()): number | null {
    const until = this.until.get(userId);
    if (until === undefined) return null;
    if (until > now) return until;
    this.until.delete(userId);
    return null;
  }
}
