import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/index.js';
import { CoreModule } from '#libs/runtime/core.module.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { ObservabilityController } from '#libs/runtime/observability.controller.js';
import { DashboardController } from './dashboard/dashboard.controller.js';
import { PresenceGateway } from './presence.gateway.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { SessionPublisher } from './sessions/session-publisher.service.js';
import { ManagerViewService } from './sessions/manager-view.service.js';
import { PresenceFeedService } from './sessions/presence-feed.service.js';
import { ConsoleRelayService } from './sessions/console-relay.service.js';
import { PresenceLinkService } from './sessions/presence-link.service.js';

@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [CoreModule.forApp('gateway', config)],
      controllers: [ObservabilityController, DashboardController],
      providers: [Readiness, SessionRegistry, SessionPublisher, ManagerViewService, PresenceFeedService, ConsoleRelayService, PresenceLinkService, PresenceGateway],
    };
  }
}
