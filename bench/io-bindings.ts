/**
 * What binding the gateway's message handlers costs per socket, in the two ways the gateway could
 * bind them: NestJS's IoAdapter (an RxJS pipeline per handler and socket, and a shared disconnect
 * stream) and the gateway's plain listeners (apps/gateway/io-adapter.ts). Heap kept per socket
 * once bound (after a full collection), and the time to deliver a message and its ack. Sockets are
 * bare EventEmitters: the cost of a Socket.IO socket itself is the same in both and left out.
 *
 *   npm run build:bench && node --expose-gc dist/bench/io-bindings.js [sockets] [rounds]
 */
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { EventEmitter } from 'node:events';
import { from, isObservable, mergeAll, of, type Observable } from 'rxjs';
import type { Socket } from 'socket.io';
import type { AppConfig } from '#libs/config/index.js';
import { ConfiguredIoAdapter } from '../apps/gateway/io-adapter.js';

const sockets = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** NestJS's transform of a handler's answer (WebSocketsController: pickResult, then mergeAll). */
const transform = (data: unknown): Observable<unknown> => from(Promise.resolve(data).then((r) => (isObservable(r) ? r : of(r)))).pipe(mergeAll());
/** The gateway's four @SubscribeMessage handlers, answering as they do (an ack object, asynchronously). */
const handlers: MessageMappingProperties[] = ['presence:status', 'presence:logout', 'presence:subscribe', 'presence:console'].map((message) => ({
  message,
  methodName: message,
  callback: () => Promise.resolve({ ok: true }),
  isAckHandledManually: false,
}));

const adapters = { nestjs: () => new IoAdapter(), plain: () => new ConfiguredIoAdapter(undefined as never, {} as AppConfig) } as const;

function heapPerSocket(make: () => IoAdapter): number {
  const adapter = make();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const kept = Array.from({ length: sockets }, () => {
    const s = new EventEmitter();
    adapter.bindMessageHandlers(s as unknown as Socket, handlers, transform);
    return s;
  });
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const bare = Array.from({ length: sockets }, () => new EventEmitter());
  gc?.();
  const bareBytes = process.memoryUsage().heapUsed - after;
  if (kept.length + bare.length !== 2 * sockets) throw new Error('unreachable');
  return (after - before - bareBytes) / sockets;
}

async function microsPerMessage(make: () => IoAdapter, messages: number): Promise<number> {
  const s = new EventEmitter();
  make().bindMessageHandlers(s as unknown as Socket, handlers, transform);
  let acked = 0;
  const done = new Promise<void>((resolve) => {
    const ack = () => ++acked === messages && resolve();
    for (let i = 0; i < messages; i++) s.emit('presence:status', { status: 'idle' }, ack);
  });
  const t0 = process.hrtime.bigint();
  await done;
  return Number(process.hrtime.bigint() - t0) / 1000 / messages;
}

for (let round = 1; round <= rounds; round++) {
  for (const [name, make] of Object.entries(adapters)) {
    const bytes = heapPerSocket(make);
    const us = await microsPerMessage(make, 20_000);
    process.stdout.write(`round ${round} ${name.padEnd(6)}: ${(bytes / 1024).toFixed(2)} KiB of heap per socket (${sockets} sockets, 4 handlers); ${us.toFixed(2)} µs per message and ack\n`);
  }
}
