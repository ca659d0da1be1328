/** While the dataset settles, a joined user is retried this often, for at most this long. */
export const SETTLE_RETRY_EVERY_MS = 100;
export const SETTLE_RETRY_FOR_MS = 10_000;

/**
 * Users who joined while the dataset settled (the worker's first start, or Redis lost its data):
 * nobody may take a lease then, so each is tried again shortly rather than at the next reconcile.
 * Also keeps when each user joined, so that the join-to-started latency stays honest whichever
 * path starts the manager.
 */
export class SettleRetries {
  private readonly since = new Map<string, number>();

  /** `attempt` tries to start the user; `started` says whether their manager runs now; `closed`: stop retrying. */
  constructor(
    private readonly attempt: (userId: string) => Promise<void>,
    private readonly started: (userId: string) => boolean,
    private readonly closed: () => boolean,
  ) {}

  /** When the user's join was seen, if they are waiting. */
  joinedAt(userId: string): number | undefined {
    return this.since.get(userId);
  }

  /** The user got a lease, or someone else holds it: no more waiting. */
  done(userId: string): void {
    this.since.delete(userId);
  }

  /** The lease was refused while settling: retry every SETTLE_RETRY_EVERY_MS, for SETTLE_RETRY_FOR_MS after the join. */
  wait(userId: string, since: number): void {
    const first = !this.since.has(userId);
    this.since.set(userId, since);
    if (!first) return;
    const retry = () => {
      if (!this.since.has(userId) || this.closed()) return;
      if (Date.now() - since > SETTLE_RETRY_FOR_MS) return void this.since.delete(userId);
      void this.attempt(userId).then(() => {
        if (this.since.has(userId) && !this.started(userId)) setTimeout(retry, SETTLE_RETRY_EVERY_MS).unref();
      });
    };
    setTimeout(retry, SETTLE_RETRY_EVERY_MS).unref();
  }
}
