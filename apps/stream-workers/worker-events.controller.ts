import { Controller } from '@nestjs/common';
import { UserOffline, UserOnline, UserSubjects, WorkerHandover, InternalSubjects } from '#libs/contracts/index.js';
import { OnSubject } from '#libs/nats/on-subject.decorator.js';
import { StreamWorkerService } from './stream-worker.service.js';

/**
 * Presence's user events. They are hints, not orders: the lease script checks the presence state,
 * so a forged `online` for a user with no session starts nothing and a forged `offline` for a
 * present user stops nothing.
 */
@Controller()
export class WorkerEventsController {
  constructor(private readonly workers: StreamWorkerService) {}

  @OnSubject(UserSubjects.anyOnline, UserOnline)
  online(e: UserOnline) {
    return this.workers.tryStart(e.userId, Date.parse(e.at));
  }

  @OnSubject(UserSubjects.anyOffline, UserOffline)
  offline(e: UserOffline) {
    return this.workers.stop(e.userId, 'offline', { ifInactive: true });
  }

  @OnSubject(InternalSubjects.workerHandover, WorkerHandover, { matchSubjectUser: false })
  async handover(e: WorkerHandover) {
    if (e.workerId === this.workers.workerId) return;
    await Promise.all(e.userIds.map((u) => this.workers.tryStart(u)));
  }
}

