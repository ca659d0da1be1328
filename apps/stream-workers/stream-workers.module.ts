import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/index.js';
import { CoreModule } from '#libs/runtime/core.module.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { ObservabilityController } from '#libs/runtime/observability.controller.js';
import { LeaseRepository } from './leases/lease.repository.js';
import { Placement } from './placement/placement.service.js';
import { StreamWorkerService } from './stream-worker.service.js';
import { WorkerEventsController } from './worker-events.controller.js';
import { WorkerQueryService } from './worker-query.service.js';

@Module({})
export class StreamWorkersModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: StreamWorkersModule,
      imports: [CoreModule.forApp('stream-workers', config, { redis: true })],
      controllers: [ObservabilityController, WorkerEventsController],
      providers: [Readiness, LeaseRepository, Placement, StreamWorkerService, WorkerQueryService],
    };
  }
}
