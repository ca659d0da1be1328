import { bootstrap } from '#libs/runtime/bootstrap.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { NatsEventsTransport } from '#libs/nats/events.transport.js';
import { StreamWorkersModule } from './stream-workers.module.js';

await bootstrap({
  app: 'stream-workers',
  module: (config) => StreamWorkersModule.forRoot(config),
  port: (config) => config.streamWorkersPort,
  configure: (app) => {
    // Every worker sees every user event: whoever holds the lease acts, the others ignore it.
    // 256 lanes, as in presence: a stop waits on Redis twice, and 10,000 offline events at once
    // queued behind 32 lanes for seconds (bench/, issue 5). One user's events share a lane, in order.
    app.connectMicroservice({ strategy: new NatsEventsTransport(app.get(NatsService), { lanes: 256 }) });
  },
  started: (app) => app.get(Readiness).markReady(),
});
