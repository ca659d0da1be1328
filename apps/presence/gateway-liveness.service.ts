import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, type RedisClient } from '#libs/redis/index.js';
import {
  assembleSessionPages,
  GatewayHeartbeat,
  type GatewayResync,
  type GatewaySessions,
  InternalSubjects,
  SessionMessageIds,
  nowIso,
  type LeaveReason,
  type SessionLeft,
} from '#libs/contracts/index.js';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { auditLastSeq, presenceProgress } from '#libs/nats/streams.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { GatewayRegistry, heldMatches } from './state/gateway-registry.repository.js';

/**
 * After the marker is recreated (Redis lost its data), workers get this long to re-assert the
 * leases of the managers they run before anyone may take a lease and before the gateways are
 * asked to announce their sessions: the users come back to managers that never stopped.
 */
export const RESYNC_SETTLE_MS = 1000;

/** Heartbeats in a row (each GATEWAY_TTL_MS / 3) that disagree with the state, after which the gateway is reconciled even while events are still waiting. */
export const MAX_MISMATCH_STREAK = 6;

/**
 * Gateways are the source of truth for their own sessions; this service keeps the presence state
 * in line with them:
 * - a gateway silent for GATEWAY_TTL_MS is dead: its sessions end with reason `gateway_down`
 *   (published as ordinary leaves, so they take the same durable path);
 * - a gateway that heartbeats under a new boot id was restarted: the sessions of its previous
 *   incarnation end the same way;
 * - a gateway whose heartbeat names other sessions than the state holds for it (another count, or
 *   another digest of their ids: a lost join plus a lost leave keep the count), two heartbeats in
 *   a row once presence's consumer has no backlog (else up to MAX_MISMATCH_STREAK in a row: the
 *   difference is usually events still on their way), is asked for its list and the differences
 *   are published as joins and leaves;
 * - when Redis comes back empty, every gateway is asked to announce its sessions again.
 */
@Injectable()
export class GatewayLivenessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GatewayLiveness');
  /** Consecutive heartbeats that disagreed with the state (count or digest), per gateway. */
  private readonly mismatches = new Map<string, number>();
  private resyncTimer?: NodeJS.Timeout;
  /**
   * Since when heartbeats reach Redis without a break: a gateway's silence is judged only after a
   * full TTL of it, since heartbeats dropped while Redis was away or refused writes prove nothing.
   */
  private recordingSince: number | null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly nats: NatsService,
    private readonly state: PresenceStateRepository,
    private readonly gateways: GatewayRegistry,
  ) {
    this.recordingSince = redis.status === 'ready' ? Date.now() : null;
    redis.on('ready', () => (this.recordingSince ??= Date.now()));
    redis.on('close', () => (this.recordingSince = null));
  }

  onApplicationBootstrap() {
    this.nats.subscribe(InternalSubjects.anyGatewayHeartbeat, GatewayHeartbeat, (hb) => this.heartbeat(hb));
    // After a NATS outage gateways may have missed our state: ask them to re-announce.
    this.nats.onReconnect(() => this.nats.emit('gateway.resync', { at: nowIso() }));
  }

  onApplicationShutdown() {
    clearTimeout(this.resyncTimer);
  }

  private async heartbeat(hb: GatewayHeartbeat) {
    if (this.redis.status !== 'ready') return;
    let previousBoot: string | null;
    try {
      previousBoot = await this.gateways.recordHeartbeat(hb.gatewayId, Date.now(), hb.bootId ?? '');
    } catch (err) {
      this.recordingSince = null;
      throw err;
    }
    this.recordingSince ??= Date.now();
    if (previousBoot) {
      this.logger.warn(`gateway ${hb.gatewayId} restarted (boot ${previousBoot} -> ${hb.bootId}): ending its earlier sessions`);
      await this.reconcileGateway(hb.gatewayId, 'gateway_down');
      return;
    }
    const held = await this.gateways.held(hb.gatewayId);
    const streak = heldMatches(held, hb) ? 0 : (this.mismatches.get(hb.gatewayId) ?? 0) + 1;
    this.mismatches.set(hb.gatewayId, streak);
    // One disagreement is normal (events in flight); two in a row means something was lost, unless
    // session events still wait for us in JetStream: in a mass leave the state trails the gateways
    // by seconds, and reconciling then re-published thousands of leaves (and looked each one up)
    // at the worst moment. A disagreement that outlasts MAX_MISMATCH_STREAK heartbeats is acted on.
    if (streak >= 2 && (streak >= MAX_MISMATCH_STREAK || !(await this.eventsWaiting()))) {
      this.logger.warn(`gateway ${hb.gatewayId} holds ${hb.sessions} session(s) (digest ${hb.digest ?? 'unsent'}), the state ${held.sessions} (${held.digest}): reconciling`);
      this.mismatches.set(hb.gatewayId, 0);
      await this.reconcileGateway(hb.gatewayId, 'lost');
    }
  }

  /**
   * Asks the gateway for its live sessions and publishes what the state lacks (joins) and what it
   * holds that the gateway no longer has (leaves). A session that joined after the gateway's answer
   * is missing from the list but is kept: only sessions older than the answer are ended. Joins of
   * sessions that already left are ignored by the state (tombstones), so racing events are harmless.
   * Every replica sees the heartbeats and may reconcile the same gateway at once: the repairs'
   * message ids name the session only (SessionMessageIds), so JetStream stores each repair once.
   */
  async reconcileGateway(gatewayId: string, reason: LeaveReason): Promise<void> {
    let answer: GatewaySessions;
    try {
      answer = await this.listGateway(gatewayId);
    } catch (err) {
      this.logger.warn(`gateway ${gatewayId} did not list its sessions: ${(err as Error).message}`);
      return;
    }
    const asOf = Date.parse(answer.asOf ?? nowIso());
    const listed = new Map(answer.sessions.map((s) => [s.sessionId, s]));
    const held = await this.state.gatewaySessions(gatewayId);
    const heldIds = new Set(held.map((h) => h.sessionId));
    const at = nowIso();
    const work: Promise<unknown>[] = [];
    const gone = held.filter(({ sessionId }) => !listed.has(sessionId));
    const metas = await this.gateways.sessionMetas(gone);
    for (const [i, { userId, sessionId }] of gone.entries()) {
      const meta = metas[i];
      if (meta && Date.parse(meta.joinedAt) > asOf) continue;
      const left: SessionLeft = { sessionId, userId, gatewayId, reason, at, ...(meta ? { meta } : {}) };
      work.push(this.nats.emitDurable('session.left', left, SessionMessageIds.leftRepair(sessionId, 'reconcile')));
    }
    for (const s of answer.sessions) {
      if (heldIds.has(s.sessionId)) continue;
      work.push(this.nats.emitDurable('session.joined', s, SessionMessageIds.joinedRepair(s.sessionId)));
    }
    await Promise.all(work);
    // Rebuilt from the index: a digest an earlier version did not keep would disagree for ever.
    await this.gateways.redigest(gatewayId);
    if (work.length > 0) this.logger.warn(`gateway ${gatewayId} reconciled: ${work.length} session event(s) published`);
  }

  /** The audit stream's last sequence; undefined when NATS cannot tell (the gateways then announce everything). */
  private async streamLastSeq(): Promise<number | undefined> {
    try {
      return await auditLastSeq(await this.nats.jsm());
    } catch (err) {
      this.logger.debug(`cannot read the stream's last sequence: ${errorText(err)}`);
      return undefined;
    }
  }

  /** Session events published but not yet applied here (the durable consumer's backlog); false when unknown. */
  private async eventsWaiting(): Promise<boolean> {
    try {
      return !(await presenceProgress(await this.nats.jsm())).idle;
    } catch {
      return false;
    }
  }

  /** The gateway's whole list, from its pages; throws unless every page arrived (see gateway-sessions.ts). */
  private async listGateway(gatewayId: string, maxWaitMs = 5000): Promise<GatewaySessions> {
    const replies = await this.nats.nc.requestMany(InternalSubjects.gatewaySessions(gatewayId), '', { strategy: 'sentinel', maxWait: maxWaitMs });
    const pages: Uint8Array[] = [];
    for await (const m of replies) {
      if (m.headers?.code === 503) throw new Error('no responders');
      if (m.data.length === 0) break;
      pages.push(m.data);
    }
    const list = assembleSessionPages(pages);
    if (!list.ok) throw new Error(`${list.error} (within ${maxWaitMs} ms)`);
    return list.value;
  }

  /**
   * Redis lost its data (restart without persistence): recreate the marker, give the workers
   * RESYNC_SETTLE_MS to re-assert their leases, then ask the gateways to announce their sessions.
   * Answers how long ago the dataset was (re)created.
   */
  async checkDataLoss(): Promise<number> {
    if (await this.gateways.ensureMarker(nowIso(), RESYNC_SETTLE_MS)) {
      this.mismatches.clear();
      // Read after the marker: a join stored past this sequence is applied to the new state.
      const afterSeq = await this.streamLastSeq();
      const since = afterSeq === undefined ? 'every session' : `the sessions whose join is at stream sequence ${afterSeq} or before`;
      this.logger.warn(`presence state is empty (first start or Redis lost its data): asking gateways to resync (${since})`);
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => {
        const request: GatewayResync = afterSeq === undefined ? { at: nowIso() } : { at: nowIso(), afterSeq };
        this.nats.emit('gateway.resync', request);
      }, RESYNC_SETTLE_MS);
      return 0;
    }
    const marker = await this.gateways.marker();
    const since = marker ? Date.parse(marker) : NaN;
    return Number.isNaN(since) ? 0 : Math.max(0, Date.now() - since);
  }

  async expireDeadGateways() {
    // Heartbeats reach us over NATS and are recorded in Redis: while either link was broken (or we
    // were not running), silence proves nothing. Judge a gateway only after a full TTL of both.
    const nats = this.nats.connectedSince;
    const redis = this.recordingSince;
    if (nats === null || redis === null || Date.now() - Math.max(nats, redis) < this.config.gatewayTtlMs) return;
    const deadline = Date.now() - this.config.gatewayTtlMs;
    const dead = await this.gateways.silentSince(deadline);
    for (const gatewayId of dead) {
      const n = await this.state.gatewaySessions(gatewayId).then((s) => s.length);
      this.logger.warn(`gateway ${gatewayId} silent for ${this.config.gatewayTtlMs} ms: ending its ${n} session(s)`);
      await this.endGatewaySessions(gatewayId);
    }
  }

  /** True when the gateway answers for itself: it holds its sessions, nobody else may end them. */
  async gatewayAnswers(gatewayId: string, timeoutMs = 1000): Promise<boolean> {
    try {
      await this.nats.nc.request(InternalSubjects.gatewaySessions(gatewayId), '', { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ends every session the state says a gateway holds, with reason `gateway_down`, published as
   * ordinary leaves so they take the same durable path. Returns the sessions ended.
   */
  async endGatewaySessions(gatewayId: string): Promise<Array<{ userId: string; sessionId: string }>> {
    const sessions = await this.state.gatewaySessions(gatewayId);
    const metas = await this.gateways.sessionMetas(sessions);
    const at = nowIso();
    await Promise.all(
      sessions.map(({ userId, sessionId }, i) => {
        const meta = metas[i];
        const left: SessionLeft = { sessionId, userId, gatewayId, reason: 'gateway_down', at, ...(meta ? { meta } : {}) };
        return this.nats.emitDurable('session.left', left, SessionMessageIds.leftRepair(sessionId, 'gateway-down'));
      }),
    );
    // Only forget the gateway once its leaves are stored; a crash before this repeats them.
    await this.gateways.forget(gatewayId);
    this.mismatches.delete(gatewayId);
    return sessions;
  }
}
