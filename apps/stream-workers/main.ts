import { bootstrap } from '#libs/runtime/bootstrap.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { NatsEventsTransport } from '#libs/nats/events.transport.js';
import { StreamWorkersModule } from './stream-workers.module.js';
import { crashOwnerOf } from './manager/component-scope.js';

await bootstrap({
  app: 'stream-workers',
  module: (config) => StreamWorkersModule.forRoot(config),
  port: (config) => config.streamWorkersPort,
  configure: (app) => {
    // Every worker sees every user event: whoever holds the lease acts, the others ignore it.
    app.connectMicroservice({ strategy: new NatsEventsTransport(app.get(NatsService)) });
  },
  started: (app) => app.get(Readiness).markReady(),
  // An error a component's own code let escape (a plain timer, an unawaited promise) is its crash.
  claimEscapedError: crashOwnerOf,
});
