import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { PeriodicProbe, PROBE_TIMEOUT_MS } from '#libs/observability/periodic-probe.js';
import { AUDIT_STREAM } from './streams.js';

/**
 * Whether the event stream takes writes now, not only whether the connection is up: on a
 * cluster the stream can be without a leader (its node died, an election under way, too few
 * replicas left for a quorum) while every connection is fine, and then every join and leave
 * waits. Stream info is answered by the stream's leader only, so an answer that names a leader is
 * taken as "writes are accepted"; health is down when the last such answer is stale, and says why.
 */
export class StreamWriteProbe extends PeriodicProbe {
  private jsm?: JetStreamManager;

  /**
   * `writesDurably`: false for an app that only publishes plainly (stream workers): a stream that
   * does not exist yet (presence, its only maker, not started) is no reason for it to be unready.
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly writesDurably = true,
  ) {
    super();
  }

  /** null when the stream takes writes; otherwise why not. */
  problem(): string | null {
    return this.fresh() ? null : `stream ${AUDIT_STREAM}: ${this.lastError}`;
  }

  protected override canCheck(): boolean {
    return !this.nc.isClosed();
  }

  protected async check(): Promise<void> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: PROBE_TIMEOUT_MS, checkAPI: false });
    try {
      const info = await this.jsm.streams.info(AUDIT_STREAM);
      // A single server has no cluster section; a clustered stream names its leader.
      if (info.cluster && !info.cluster.leader) throw new Error('no leader (an election is under way or too few replicas are left)');
    } catch (err) {
      if (!this.writesDurably && /stream not found/i.test((err as Error).message)) return;
      throw err;
    }
  }
}
