import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { ServerOptions, Socket } from 'socket.io';
import { filter, firstValueFrom, type Observable } from 'rxjs';
import type { AppConfig } from '#libs/config/index.js';
import { originGuard } from './security/origin-check.js';

/** Socket.IO with the configured liveness: a vanished client is noticed within ping interval + timeout. */
export class ConfiguredIoAdapter extends IoAdapter {
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
      // CORS_ORIGINS: a handshake from a foreign page is refused (403) before any token is read, and
      // polling's CORS headers name only the allowed origins.
      allowRequest: originGuard(this.config.corsOrigins),
      cors: { origin: this.config.corsOrigins.includes('*') ? true : this.config.corsOrigins, credentials: true },
    });
  }

  /**
   * One plain listener per handler instead of IoAdapter's RxJS pipeline per socket (fromEvent,
   * mergeMap, takeUntil and a shared disconnect stream for each of our handlers): the same
   * behaviour (the handler's answer is the client's ack, an `{event, data}` answer is emitted, a
   * failure is logged), with nothing per socket but the listeners, which go with the socket.
   * bench/io-bindings.ts measures what that saves (docs/BENCHMARKS.md); io-adapter.spec.ts runs
   * every kind of answer through both and fails when IoAdapter's behaviour moves away from this.
   */
  override bindMessageHandlers(
    socket: Socket,
    handlers: Array<{ message: unknown; callback: (...args: unknown[]) => unknown; isAckHandledManually?: boolean }>,
    transform: (data: unknown) => Observable<unknown>,
  ) {
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(String(message), (...args: unknown[]) => {
        const { data, ack } = this.mapPayload(args.length > 1 ? args : args[0]);
        // NestJS wraps every result in an observable; IoAdapter acks its first answer that is not
        // nil. Run inside the promise so that a handler that throws is logged, not thrown here.
        void Promise.resolve()
          .then(() => firstValueFrom(transform(callback(data, ack)).pipe(filter((v) => v !== undefined && v !== null)), { defaultValue: undefined }))
          .then(
            (response) => {
              if (response === undefined) return;
              const r = response as { event?: string; data?: unknown };
              if (r.event) socket.emit(r.event, r.data);
              else if (!isAckHandledManually && typeof ack === 'function') (ack as (r: unknown) => void)(response);
            },
            (err: unknown) => this.logger.error(err),
          );
      });
    }
  }
}
