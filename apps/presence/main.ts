import { bootstrap } from '#libs/runtime/bootstrap.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { NatsEventsTransport } from '#libs/nats/events.transport.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from '#libs/nats/streams.js';
import { PresenceModule } from './presence.module.js';
import { mountBoard } from './board.js';

await bootstrap({
  app: 'presence',
  module: (config) => PresenceModule.forRoot(config),
  port: (config) => config.presencePort,
  configure: (app, config) => {
    // Session events arrive through the durable consumer: nothing sent while presence was down is lost.
    // 256 lanes: each event waits on Redis a few times, so with 32 lanes a burst of leaves (10,000
    // users at once) queued for seconds while presence's CPU sat mostly idle (bench/, issue 5).
    // One user's events still share a lane, in order.
    app.connectMicroservice({
      strategy: new NatsEventsTransport(app.get(NatsService), { stream: AUDIT_STREAM, durable: PRESENCE_CONSUMER, lanes: 256 }),
    });
    mountBoard(app, config);
  },
});
