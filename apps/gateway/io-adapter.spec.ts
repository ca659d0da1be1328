import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { EventEmitter } from 'node:events';
import { from, isObservable, mergeAll, of, type Observable } from 'rxjs';
import type { Socket } from 'socket.io';
import type { AppConfig } from '#libs/config/index.js';
import { ConfiguredIoAdapter } from './io-adapter.js';

/**
 * The gateway's plain listeners must do what NestJS's IoAdapter does with a handler's answer. Each
 * case runs against both, so a NestJS release that changes IoAdapter's behaviour fails here.
 */
const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
afterAll(() => logged.mockRestore());

/** What NestJS's WebSocketsController passes as `transform` (pickResult, then mergeAll). */
const transform = (data: unknown): Observable<unknown> =>
  from(Promise.resolve(data).then((r) => (isObservable(r) ? r : of(r)))).pipe(mergeAll());

type Handler = (data: unknown, ack?: unknown) => unknown;

/** Binds `handler` as `message` on a fake socket, sends `args`, and answers what the client got. */
async function run(adapter: IoAdapter, handler: Handler, args: unknown[], manualAck = false) {
  logged.mockClear();
  const socket = new EventEmitter();
  const emitted: unknown[][] = [];
  socket.on('reply', (...a: unknown[]) => emitted.push(a));
  const acks: unknown[] = [];
  const seen: unknown[] = [];
  // NestJS types a handler's answer as a promise or observable; a plain value is what it also takes.
  const callback = ((d: unknown, a?: unknown) => (seen.push(d), handler(d, a))) as MessageMappingProperties['callback'];
  adapter.bindMessageHandlers(socket as unknown as Socket, [{ message: 'm', methodName: 'm', callback, isAckHandledManually: manualAck }], transform);
  socket.emit('m', ...args, (r: unknown) => acks.push(r));
  socket.emit('m', ...args);
  await new Promise((r) => setTimeout(r, 20));
  return { seen, acks, emitted, errors: logged.mock.calls.length };
}

const both = () => [new IoAdapter(), new ConfiguredIoAdapter(undefined as never, {} as AppConfig)];

describe('ConfiguredIoAdapter.bindMessageHandlers answers as IoAdapter does', () => {
  // name, handler, the arguments sent, whether the handler acks itself, the acks the client gets
  const cases: Array<[string, Handler, unknown[], boolean, unknown[]]> = [
    ['a value: the ack', () => ({ ok: true }), [{ status: 'idle' }], false, [{ ok: true }]],
    ['a promise: the ack, once resolved', async () => Promise.resolve({ ok: 1 }), [1], false, [{ ok: 1 }]],
    ['an observable: its first value', () => of(7), ['x'], false, [7]],
    ['undefined or null: nothing', () => null, [{}], false, []],
    ['{ event, data }: that event, no ack', () => ({ event: 'reply', data: 3 }), [{}], false, []],
    ['a handler that acks itself: not acked again', (_d, ack) => ((ack as (r: unknown) => void)('mine'), { ok: 2 }), [{}], true, ['mine']],
    ['a throw: logged, and the next message still handled', () => { throw new Error('bad'); }, [{}], false, []],
    ['a rejection: logged', () => Promise.reject(new Error('bad')), [{}], false, []],
    ['several arguments: the data is their array', () => 'ok', [1, 2], false, ['ok']],
    ['no argument: no data', () => 'ok', [], false, ['ok']],
  ];
  it.each(cases)('%s', async (_name, handler, args, manual, acks) => {
    const [nest, ours] = await Promise.all(both().map((a) => run(a, handler, args, manual)));
    expect(ours).toEqual(nest);
    expect(ours.acks).toEqual(acks);
    expect(ours.seen).toHaveLength(2);
  });
});
