import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Service } from '@nats-io/services';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { AdminCrash, InternalSubjects, QuerySubjects, StreamStateSubjects, parseMessage, type ManagerInfo } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { registerService } from '#libs/nats/service-registry.js';
import { respondJson } from '#libs/nats/respond.js';
import { StreamWorkerService } from './stream-worker.service.js';
import { LeaseRepository } from './leases/lease.repository.js';
import { StreamStateServer } from './components/stream-state.component.js';

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
        const answer = req.value.set ? component.set(req.value.set) : Promise.resolve(component.get());
        answer.then(
          (state) => respondJson(nc, msg, { userId, state }),
          (e: Error) => respondJson(nc, msg, { error: e.message }),
        );
      },
    });
    if (this.config.faultInjection) {
      this.logger.warn('FAULT_INJECTION is on: stream.admin.crash can crash components');
      this.nats.subscribe(InternalSubjects.adminCrash, AdminCrash, (req, _s, reply) => {
        const m = this.workers.manager(req.userId);
        if (!m) return;
        const ok = m.crash(req.component);
        if (reply) this.nats.nc.publish(reply, JSON.stringify({ ok, workerId: this.workers.workerId }));
      });
    }
    this.service = await registerService(nc, {
      name: 'stream-workers',
      version: '1.0.0',
      description: 'Per-user UserStreamManagers and their components',
      instanceId: this.config.instanceId,
      endpoints: [{ name: 'managers', subject: QuerySubjects.managers, handler: () => this.allManagers() }],
    });
  }

  async allManagers(): Promise<{ managers: ManagerInfo[] }> {
    const workers = await this.leases.liveWorkers();
    const others = workers.filter((w) => w !== this.workers.workerId);
    const answers = await Promise.allSettled(
      others.map((w) => this.nats.request<{ managers?: ManagerInfo[]; error?: string }>(InternalSubjects.workerManagers(w), undefined, 1000)),
    );
    const managers = [...this.workers.list()];
    for (const a of answers) {
      if (a.status !== 'fulfilled') continue;
      // A worker whose own list is over max_payload says so: a list without its managers would mislead.
      if (a.value.error) throw new Error(`a worker could not list its managers: ${a.value.error}`);
      managers.push(...(a.value.managers ?? []));
    }
    managers.sort((a, b) => a.userId.localeCompare(b.userId));
    return { managers };
  }

  async onApplicationShutdown() {
    await this.service?.stop().catch(() => undefined);
  }
}
