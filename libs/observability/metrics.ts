import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets of the consumed-event timings: from a quiet millisecond to a burst's backlog of seconds. */
const EVENT_SECONDS = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * All Prometheus metrics of the system. Each app registers the whole set in its own registry and
 * moves the ones it owns; the names are shared so dashboards need no per-app cases.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly invalidMessages = new Counter({
    name: 'presence_invalid_messages_total',
    help: 'Messages dropped because they failed validation, by subject prefix',
    labelNames: ['subject'],
    registers: [this.registry],
  });
  readonly sessions = new Gauge({ name: 'presence_gateway_sessions', help: 'Live sessions on this gateway', registers: [this.registry] });
  readonly connectionsRefused = new Counter({
    name: 'presence_gateway_connections_refused_total',
    help: 'Socket.IO connections refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly socketEventsThrottled = new Counter({
    name: 'presence_gateway_socket_events_throttled_total',
    help: 'Client events dropped by the per-socket rate limit',
    registers: [this.registry],
  });
  readonly sessionsCutOff = new Counter({
    name: 'presence_gateway_sessions_cut_off_total',
    help: 'Sessions the gateway ended for misbehaviour or a limit, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly sessionsRekeyed = new Counter({
    name: 'presence_gateway_sessions_rekeyed_total',
    help: 'Sockets carried on under a new session id because presence had already ended their session',
    registers: [this.registry],
  });
  readonly sessionEvents = new Counter({
    name: 'presence_session_events_total',
    help: 'Session events applied to the presence state, by kind and outcome',
    labelNames: ['kind', 'outcome'],
    registers: [this.registry],
  });
  readonly transitions = new Counter({
    name: 'presence_user_transitions_total',
    help: 'User transitions: online, cleanup_scheduled, cleanup_cancelled, offline',
    labelNames: ['transition'],
    registers: [this.registry],
  });
  readonly adminActions = new Counter({
    name: 'presence_admin_actions_total',
    help: 'Operator actions (presence.admin.*), by action and outcome',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  readonly cleanupLateness = new Histogram({
    name: 'presence_cleanup_lateness_seconds',
    help: 'Actual offline time minus the intended cleanup time',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly cleanupBarrierWait = new Histogram({
    name: 'presence_cleanup_barrier_wait_seconds',
    help: 'How long a due cleanup waited for presence to apply the session events stored before it (outcome: applied, timeout, unknown)',
    labelNames: ['outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly cleanupBarrierLookups = new Counter({
    name: 'presence_cleanup_barrier_lookups_total',
    help: "Stream reads made by due cleanups looking for unapplied returns past the consumer's ack floor (kind: walk, every user's joins for many cleanups at once; user, one cleanup's user's joins)",
    labelNames: ['kind'],
    registers: [this.registry],
  });
  /** Where an event's time goes in an app: waiting for its turn (its user's earlier events, a free slot), then in its handler. */
  readonly eventWait = new Histogram({
    name: 'nats_event_wait_seconds',
    help: 'From a consumed event reaching the app to its handler starting (its wait for its turn: earlier events of the same user, a free slot), by kind',
    labelNames: ['kind'],
    buckets: EVENT_SECONDS,
    registers: [this.registry],
  });
  readonly eventHandle = new Histogram({
    name: 'nats_event_handle_seconds',
    help: 'How long a consumed event took in its handler, by kind',
    labelNames: ['kind'],
    buckets: EVENT_SECONDS,
    registers: [this.registry],
  });
  readonly managersRunning = new Gauge({ name: 'stream_managers_running', help: 'Managers running in this worker', registers: [this.registry] });
  readonly managerStarts = new Counter({ name: 'stream_manager_starts_total', help: 'Managers started', registers: [this.registry] });
  readonly managerStops = new Counter({
    name: 'stream_manager_stops_total',
    help: 'Managers stopped, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly componentRestarts = new Counter({
    name: 'stream_component_restarts_total',
    help: 'Component restarts after a crash, by component',
    labelNames: ['component'],
    registers: [this.registry],
  });
  readonly joinToStarted = new Histogram({
    name: 'stream_join_to_manager_started_seconds',
    help: "From a user's first session joining (at its gateway) to their manager running",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Extra gauges computed at scrape time (e.g. counters kept in Redis). */
  gauge(name: string, help: string, collect: () => Promise<number> | number) {
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await collect());
      },
    });
  }

  /** The same, one series per label value. */
  labelledGauge(name: string, help: string, label: string, collect: () => Promise<Record<string, number>>) {
    return new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      async collect() {
        for (const [value, n] of Object.entries(await collect())) this.set({ [label]: value }, n);
      },
    });
  }
}
