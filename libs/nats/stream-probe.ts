import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AUDIT_STREAM } from './streams.js';

/** How often the probe asks, how long one answer may take, and how old the last success may be. */
const EVERY_MS = 1000;
const TIMEOUT_MS = 1500;
const FRESH_MS = 3000;

/**
 * Whether the event stream takes writes now, not only whether the connection is up: on a
 * cluster the stream can be without a leader (its node died, an election under way, too few
 * replicas left for a quorum) while every connection is fine, and then every join and leave
 * waits. Stream info is answered by the stream's leader only, so an answer that names a leader
 * within TIMEOUT_MS is taken as "writes are accepted"; health is down when the last such answer
 * is older than FRESH_MS, and says why.
 */
export class StreamWriteProbe {
  private lastOkAt = 0;
  private lastError = 'not probed yet';
  private timer?: NodeJS.Timeout;
  private inFlight = false;
  private jsm?: JetStreamManager;

  /**
   * `writesDurably`: false for an app that only publishes plainly (stream workers): a stream that
   * does not exist yet (presence, its only maker, not started) is no reason for it to be unready.
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly writesDurably = true,
  ) {}

  start(): this {
    this.timer ??= setInterval(() => void this.probe(), EVERY_MS);
    this.timer.unref();
    void this.probe();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** null when the stream takes writes; otherwise why not. */
  problem(): string | null {
    if (Date.now() - this.lastOkAt <= FRESH_MS) return null;
    return `stream ${AUDIT_STREAM}: ${this.lastError}`;
  }

  private async probe(): Promise<void> {
    if (this.inFlight || this.nc.isClosed()) return;
    this.inFlight = true;
    try {
      this.jsm ??= await jetstreamManager(this.nc, { timeout: TIMEOUT_MS, checkAPI: false });
      const info = await this.jsm.streams.info(AUDIT_STREAM);
      // A single server has no cluster section; a clustered stream names its leader.
      if (info.cluster && !info.cluster.leader) throw new Error('no leader (an election is under way or too few replicas are left)');
      this.lastOkAt = Date.now();
    } catch (err) {
      if (!this.writesDurably && /stream not found/i.test((err as Error).message)) {
        this.lastOkAt = Date.now();
        return;
      }
      this.lastError = (err as Error).message.split('\n')[0].slice(0, 200);
    } finally {
      this.inFlight = false;
    }
  }
}
