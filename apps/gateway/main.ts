import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { ServerOptions } from 'socket.io';
import type { AppConfig } from '#libs/config/index.js';
import { bootstrap } from '#libs/runtime/bootstrap.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { GatewayModule } from './gateway.module.js';

/** Socket.IO with the configured liveness: a vanished client is noticed within ping interval + timeout. */
class ConfiguredIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>) {
    return super.createIOServer(port, {
      ...(options as ServerOptions),
      pingInterval: this.config.socketPingIntervalMs,
      pingTimeout: this.config.socketPingTimeoutMs,
      connectTimeout: 10_000,
      // A bigger message closes the client's transport (WebSocket close 1009, HTTP 413 when polling).
      maxHttpBufferSize: this.config.socketMaxPayloadBytes,
    });
  }
}

await bootstrap({
  app: 'gateway',
  module: (config) => GatewayModule.forRoot(config),
  port: (config) => config.gatewayPort,
  configure: (app, config) => {
    app.useWebSocketAdapter(new ConfiguredIoAdapter(app, config));
  },
  started: (app) => app.get(Readiness).markReady(),
});
