import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Service } from '@nats-io/services';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { AdminCrash, InternalSubjects, QuerySubjects, StreamStateSubjects, parseMessage, type ManagerInfo } from '#libs/contracts/index.js';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { registerService } from '#libs/nats/service-registry.js';
import { respondJson } from '#libs/nats/respond.js';
import { StreamWorkerService } from './stream-worker.service.js';
import { LeaseRepository } from './leases/lease.repository.js';
import { StreamStateServer } from './components/stream-state.component.js';
import { injectFault } from './manager/fault-injection.js';

/** How long the managers query waits for the other workers: a paused one must not hold the answer. */
export const GATHER_DEADLINE_MS = 1000;

/** The answer of stream.query.managers: `workers` says who answered and who did not in time. */
export interface ManagersAnswer {
  managers: ManagerInfo[];
  workers: { answered: string[]; missing: string[] };
}

const StreamStateRequest = z.object({ set: z.object({ status: z.enum(['idle', 'live']).optional(), title: z.string().max(200).optional() }).optional() });

/**
 * The `stream-workers` service of the NATS services API. stream.query.managers answers for the
 * whole cluster: the worker that takes the request asks every live worker for its managers.
 */
@Injectable()
export class WorkerQueryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WorkerQuery');
  private service?: Service;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nats: NatsService,
    private readonly workers: StreamWorkerService,
    private readonly leases: LeaseRepository,
  ) {}

  async onApplicationBootstrap() {
    const nc = this.nats.nc;
    // Each worker answers for itself on its own subject.
    nc.subscribe(InternalSubjects.workerManagers(this.workers.workerId), {
      callback: (_err, msg) => respondJson(nc, msg, { managers: this.workers.list() }),
    });
    // Requests about one user's stream state reach every worker; the one running the manager answers.
    // The component's code runs inside a promise: whatever it throws is an answer, never an
    // exception in this NATS callback (which would close the worker's connection).
    nc.subscribe(StreamStateSubjects.any, {
      callback: (_err, msg) => {
        const userId = msg.subject.split('.')[2];
        const component = this.workers.manager(userId)?.component('StreamStateServer') as StreamStateServer | undefined;
        if (!component || !msg.reply) return;
        const req = parseMessage(StreamStateRequest, msg.data.length === 0 ? '{}' : msg.data);
        if (!req.ok) {
          this.nats.dropped(msg.subject, req.error);
          respondJson(nc, msg, { error: req.error });
          return;
        }
        const change = req.value.set;
        Promise.resolve()
          .then(() => (change ? component.set(change) : component.get()))
          .then(
            (state) => respondJson(nc, msg, { userId, state }),
            (e: unknown) => respondJson(nc, msg, { error: errorText(e) }),
          );
      },
    });
    if (this.config.faultInjection) {
      this.logger.warn('FAULT_INJECTION is on: stream.admin.crash can crash components');
      this.nats.subscribe(InternalSubjects.adminCrash, AdminCrash, (req, _s, reply) => {
        const m = this.workers.manager(req.userId);
        if (!m) return;
        const ok = injectFault(m, req.component, req.how);
        if (reply) this.nats.nc.publish(reply, JSON.stringify({ ok, workerId: this.workers.workerId, how: req.how }));
      });
    }
    this.service = await registerService(nc, {
      name: 'stream-workers',
      version: '1.0.0',
      description: 'Per-user UserStreamManagers and their components',
      instanceId: this.config.instanceId,
      // Every worker takes every request (no queue group) and the asker keeps the first answer: a
      // queue group would hand some requests to a worker that is paused, and they would time out.
      queue: '',
      endpoints: [{ name: 'managers', subject: QuerySubjects.managers, handler: () => this.allManagers() }],
    });
  }

  /**
   * Scatter-gather: the managers of every worker heard from lately (within twice WORKER_TTL_MS),
   * from those that answer within GATHER_DEADLINE_MS. One that does not (paused, overloaded, or
   * killed a moment ago) is named in `workers.missing` rather than holding up the answer; a worker
   * stopped gracefully has said goodbye and is not expected.
   */
  async allManagers(): Promise<ManagersAnswer> {
    const others = (await this.leases.recentWorkers(2 * this.config.workerTtlMs)).filter((w) => w !== this.workers.workerId);
    const answers = await Promise.allSettled(
      others.map((w) => this.nats.request<{ managers?: ManagerInfo[]; error?: string }>(InternalSubjects.workerManagers(w), undefined, GATHER_DEADLINE_MS)),
    );
    const managers = [...this.workers.list()];
    const answered = [this.workers.workerId];
    const missing: string[] = [];
    answers.forEach((a, i) => {
      if (a.status !== 'fulfilled') return void missing.push(others[i]);
      // A worker whose own list is over max_payload says so: a list without its managers would mislead.
      if (a.value.error) throw new Error(`worker ${others[i]} could not list its managers: ${a.value.error}`);
      answered.push(others[i]);
      managers.push(...(a.value.managers ?? []));
    });
    if (missing.length > 0) this.logger.warn(`managers query answered without ${missing.join(', ')} (no answer within ${GATHER_DEADLINE_MS} ms)`);
    managers.sort((a, b) => a.userId.localeCompare(b.userId));
    return { managers, workers: { answered: answered.sort(), missing: missing.sort() } };
  }

  async onApplicationShutdown() {
    await this.service?.stop().catch(() => undefined);
  }
}
