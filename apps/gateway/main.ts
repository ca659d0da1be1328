import { bootstrap } from '#libs/runtime/bootstrap.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { skipRepeatedReceiverEnds } from '#libs/runtime/ws-receiver.js';
import { GatewayModule } from './gateway.module.js';
import { ConfiguredIoAdapter } from './io-adapter.js';
import { applySecurityHeaders, STRICT_CSP } from '#libs/runtime/security-headers.js';

skipRepeatedReceiverEnds('engine.io');

await bootstrap({
  app: 'gateway',
  module: (config) => GatewayModule.forRoot(config),
  port: (config) => config.gatewayPort,
  configure: (app, config) => {
    app.useWebSocketAdapter(new ConfiguredIoAdapter(app, config));
    // One policy for every route: this origin only.
    applySecurityHeaders(app, () => STRICT_CSP);
  },
  started: (app) => app.get(Readiness).markReady(),
});
