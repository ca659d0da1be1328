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
    // Latency is measured from the session's join at its gateway when the event says when that was.
    return this.workers.tryStart(e.userId, Date.parse(e.joinedAt ?? e.at));
  }

  @OnSubject(UserSubjects.anyOffline, UserOffline)
  offline(e: UserOffline) {
    // The stop says why the user went offline: an operator's action, or their last leave's reason.
    return this.workers.stop(e.userId, e.reason === 'admin' ? 'admin' : 'offline', { ifInactive: true, cause: e.reason });
  }

  @OnSubject(InternalSubjects.workerHandover, WorkerHandover, { matchSubjectUser: false })
  async handover(e: WorkerHandover) {
    if (e.workerId === this.workers.workerId) return;
    await this.workers.takeOver(e.workerId, e.userIds, e.to);
  }
}

