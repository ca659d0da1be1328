import { jest, beforeAll, beforeEach, afterEach } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig, type AppConfig } from '#libs/config/index.js';
import { eventSubject, type CleanupJobData, type LeaveReason, type SessionJoined, type SessionLeft } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';
import { PresenceService } from './presence.service.js';
import { FakeState } from './state/presence-state.fake.js';

/** For PresenceService's unit specs: the service over an in-memory state, fake cleanups and a record of what it published, on fake timers. */
export const T0 = Date.parse('2030-01-01T12:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();

export const join = (userId: string, sessionId: string, at = Date.now()): SessionJoined => ({ userId, sessionId, gatewayId: 'gw-1', page: '/dashboard', at: iso(at) });
export const leave = (userId: string, sessionId: string, reason: LeaveReason = 'closed', at = Date.now()): SessionLeft => ({
  userId,
  sessionId,
  gatewayId: 'gw-1',
  reason,
  at: iso(at),
});

export interface PresenceSpec {
  config: AppConfig;
  metrics: Metrics;
  state: FakeState;
  schedule: jest.Mock<(data: CleanupJobData, opts?: { revive?: boolean }) => Promise<void>>;
  cancel: jest.Mock<(userId: string, epoch: number) => Promise<void>>;
  published: Array<{ subject: string; payload: Record<string, unknown> }>;
  svc: PresenceService;
  /** The service over this spec's fakes, with another configuration. */
  withConfig(config: AppConfig, state: FakeState): PresenceService;
  subjects(): string[];
  lastScheduled(): CleanupJobData;
}

/** Registers the hooks that give every test a fresh service; the returned object holds the current one. */
export function presenceSpec(): PresenceSpec {
  const t = {
    subjects: () => t.published.map((p) => p.subject),
    lastScheduled: () => t.schedule.mock.calls.at(-1)![0],
    withConfig: (config: AppConfig, state: FakeState) =>
      PresenceService.withPorts(config, t.metrics, {
        state,
        cleanups: { schedule: t.schedule, cancel: t.cancel },
        emit: (kind, payload) => t.published.push({ subject: eventSubject(kind, payload), payload: payload as Record<string, unknown> }),
      }),
  } as PresenceSpec;

  beforeAll(() => {
    Logger.overrideLogger(false);
    t.config = loadConfig({ NODE_ENV: 'development', CLEANUP_TIMEOUT_MS: '5000', CLEANUP_TIMEOUT_LOST_MS: '8000', CLEANUP_TIMEOUT_LOGOUT_MS: '2000' });
    t.metrics = new Metrics();
  });

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    t.state = new FakeState(t.config.maxSessionsPerUser);
    t.schedule = jest.fn(async () => {});
    t.cancel = jest.fn(async () => {});
    t.published = [];
    t.svc = t.withConfig(t.config, t.state);
  });

  afterEach(() => {
    jest.useRealTimers();
  });
  return t;
}
