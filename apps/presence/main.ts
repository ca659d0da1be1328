import { bootstrap } from '#libs/runtime/bootstrap.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { NatsEventsTransport } from '#libs/nats/events.transport.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from '#libs/nats/streams.js';
import { PresenceModule } from './presence.module.js';
import { mountBoard } from './board.js';
import { applySecurityHeaders } from '#libs/runtime/security-headers.js';

await bootstrap({
  app: 'presence',
  module: (config) => PresenceModule.forRoot(config),
  port: (config) => config.presencePort,
  configure: (app, config) => {
    // Session events arrive through the durable consumer: nothing sent while presence was down is lost.
    app.connectMicroservice({
      strategy: new NatsEventsTransport(app.get(NatsService), { stream: AUDIT_STREAM, durable: PRESENCE_CONSUMER }),
    });
    // The board's page is bull-board's (its scripts are not ours to hash): no framing, no sniffing.
    applySecurityHeaders(app, () => undefined);
    mountBoard(app, config);
  },
});
