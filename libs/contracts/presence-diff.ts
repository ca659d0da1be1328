import type { PresenceMap, SessionMeta, SessionStatus } from './presence-types.js';

/** What a meta is made of: a session's join (schemas.ts's SessionJoined). */
interface JoinLike {
  sessionId: string;
  page: string;
  gatewayId: string;
  at: string;
  status?: SessionStatus;
  statusAt?: string;
}

/*
 * Phoenix's presence protocol, one source for the gateway (which builds diffs) and every client
 * (the SDK, the dashboard, tests). This module has no runtime import: the client SDK bundles it
 * without zod.
 */

/**
 * The meta's version tag, Phoenix's `phx_ref`: one per session and status time, so each status
 * change is a new version (Phoenix's own client keys metas by it, never by session). Derived, not
 * stored: presence's snapshot and every gateway's diff name the same version with the same ref
 * without telling each other.
 */
export function phxRef(m: { sessionId: string; joinedAt: string; statusAt?: string }): string {
  const ms = Date.parse(m.statusAt ?? m.joinedAt);
  return `${m.sessionId}.${Number.isNaN(ms) ? '0' : ms.toString(36)}`;
}

/** The meta with its `phx_ref` (re)computed from what it says. */
export function withRef(m: SessionMeta): SessionMeta {
  return { ...m, phx_ref: phxRef(m) };
}

/**
 * A session's meta from its join. Its status is the join's own unless a later one is known (the
 * gateway's current status of its own session; presence's canonical form of the time). A join
 * repeated after status changes (a re-announce) carries the time of its latest status.
 */
export function metaOfJoin(e: JoinLike, status: SessionStatus = e.status ?? 'visible', statusAt: string = e.statusAt ?? e.at): SessionMeta {
  return { sessionId: e.sessionId, page: e.page, joinedAt: e.at, gatewayId: e.gatewayId, status, statusAt };
}

/** An `updates` entry: what changed in place (the project's addition; Phoenix clients ignore it). */
export type MetaPatch = Partial<SessionMeta> & { sessionId: string };

/**
 * `presence_diff`, Phoenix's {joins, leaves}: a status change is the leave of the old meta and the
 * join of the new one (same key, new `phx_ref`, `phx_ref_prev` naming the old), exactly as
 * Phoenix.Presence sends a meta update. `updates`: the same change as a patch, for clients that
 * would rather not rebuild a meta.
 */
export interface PresenceDiff {
  joins: PresenceMap;
  leaves: PresenceMap | Record<string, { metas: MetaPatch[] }>;
  updates?: Record<string, { metas: MetaPatch[] }>;
}

/** Phoenix's onJoin / onLeave: the key, its presence before, and what joined or left. */
export interface PresenceHooks {
  onJoin?: (key: string, current: { metas: SessionMeta[] } | undefined, joined: { metas: SessionMeta[] }) => void;
  onLeave?: (key: string, current: { metas: SessionMeta[] }, left: { metas: MetaPatch[] }) => void;
}

const refOf = (m: { phx_ref?: string; sessionId: string }) => m.phx_ref ?? m.sessionId;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * Phoenix's `Presence.syncDiff`, step for step (joins, then leaves, metas keyed by phx_ref; a meta
 * without one by its session), then the project's `updates`. Idempotent: a diff that crosses the
 * snapshot, or comes twice, changes nothing twice. Pure: returns a new map.
 */
export function applyDiff(state: PresenceMap, diff: PresenceDiff, hooks: PresenceHooks = {}): PresenceMap {
  const next = clone(state);
  for (const [key, joined] of Object.entries(clone(diff.joins ?? {}))) {
    const current = next[key];
    next[key] = clone(joined);
    if (current) {
      const joinedRefs = new Set(joined.metas.map(refOf));
      next[key].metas.unshift(...current.metas.filter((m) => !joinedRefs.has(refOf(m))));
    }
    hooks.onJoin?.(key, current, joined);
  }
  for (const [key, left] of Object.entries(clone(diff.leaves ?? {})) as Array<[string, { metas: MetaPatch[] }]>) {
    const current = next[key];
    if (!current) continue;
    const gone = new Set(left.metas.map(refOf));
    current.metas = current.metas.filter((m) => !gone.has(refOf(m)));
    hooks.onLeave?.(key, current, left);
    if (current.metas.length === 0) delete next[key];
  }
  for (const [key, { metas }] of Object.entries(diff.updates ?? {})) {
    const entry = next[key];
    if (!entry) continue;
    for (const patch of metas) {
      const i = entry.metas.findIndex((m) => m.sessionId === patch.sessionId);
      if (i < 0) continue;
      const { phx_ref_prev: _prev, ...rest } = patch;
      const patched = { ...entry.metas[i], ...rest };
      // A patch that moves the status time makes a new version: its ref follows, so a later leave finds it.
      entry.metas[i] = entry.metas[i].phx_ref === undefined ? patched : withRef(patched);
    }
  }
  return next;
}

/**
 * Phoenix's `Presence.syncState`: a new snapshot (the first, or one after a reconnect) becomes the
 * joins and leaves that turn the current list into it, so onJoin/onLeave fire for what changed.
 */
export function syncState(current: PresenceMap, snapshot: PresenceMap, hooks: PresenceHooks = {}): PresenceMap {
  const joins: PresenceMap = {};
  const leaves: PresenceMap = {};
  for (const [key, presence] of Object.entries(current)) if (!snapshot[key]) leaves[key] = presence;
  for (const [key, next] of Object.entries(snapshot)) {
    const cur = current[key];
    if (!cur) {
      joins[key] = next;
      continue;
    }
    const newRefs = new Set(next.metas.map(refOf));
    const curRefs = new Set(cur.metas.map(refOf));
    const joined = next.metas.filter((m) => !curRefs.has(refOf(m)));
    const left = cur.metas.filter((m) => !newRefs.has(refOf(m)));
    if (joined.length > 0) joins[key] = { metas: joined };
    if (left.length > 0) leaves[key] = { metas: left };
  }
  return applyDiff(current, { joins, leaves }, hooks);
}

/**
 * Phoenix's client-side list: diffs that arrive before the snapshot of the current subscription
 * are held and applied after it, so a leave that raced the snapshot is not lost. `resubscribing()`
 * (a reconnect) holds diffs again until the next snapshot, keeping the list meanwhile.
 */
export class PresenceList {
  private state: PresenceMap = {};
  private pending: PresenceDiff[] | null = [];
  private seenState = false;

  constructor(private readonly hooks: PresenceHooks & { onSync?: () => void } = {}) {}

  onState(snapshot: PresenceMap) {
    this.state = syncState(this.state, snapshot, this.hooks);
    for (const diff of this.pending ?? []) this.state = applyDiff(this.state, diff, this.hooks);
    this.pending = null;
    this.seenState = true;
    this.hooks.onSync?.();
  }

  onDiff(diff: PresenceDiff) {
    if (this.pending) {
      this.pending.push(diff);
      return;
    }
    this.state = applyDiff(this.state, diff, this.hooks);
    this.hooks.onSync?.();
  }

  resubscribing() {
    this.pending ??= [];
  }

  get synced() {
    return this.seenState && this.pending === null;
  }

  list(): PresenceMap {
    return this.state;
  }
}
