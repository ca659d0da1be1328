import { beforeAll, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { skipRepeatedReceiverEnds } from './ws-receiver.js';

type WsModule = {
  Receiver: new () => Writable;
  WebSocketServer: new (o: { port: number; host: string }) => import('node:events').EventEmitter & { address(): AddressInfo; close(): void };
  WebSocket: new (url: string) => import('node:events').EventEmitter & { close(code?: number): void; send(d: string): void };
};
const here = createRequire(import.meta.url);
const wsOf = (pkg: string) => createRequire(here.resolve(pkg))('ws') as WsModule;

const finished = (w: Writable) => new Promise<void>((r) => (w.writableFinished ? r() : w.once('finish', () => r())));

describe('skipRepeatedReceiverEnds', () => {
  beforeAll(() => {
    expect(skipRepeatedReceiverEnds('engine.io')).toBe(true);
    expect(skipRepeatedReceiverEnds('engine.io-client')).toBe(true);
  });

  it('is idempotent', () => {
    expect(skipRepeatedReceiverEnds('engine.io')).toBe(true);
  });

  it("replaces the end() of the Receiver that engine.io and engine.io-client use, and only that", async () => {
    const { Writable: W } = await import('node:stream');
    expect(wsOf('engine.io').Receiver.prototype.end).not.toBe(W.prototype.end);
    expect(wsOf('engine.io-client').Receiver.prototype.end).not.toBe(W.prototype.end);
    expect(new W().end).toBe(W.prototype.end);
  });

  it('a bare end() of a finished or destroyed receiver returns the receiver, as Node does', async () => {
    const r = new (wsOf('engine.io').Receiver)();
    r.end();
    await finished(r);
    expect(r.end()).toBe(r);
    const d = new (wsOf('engine.io').Receiver)();
    d.destroy();
    expect(d.end()).toBe(d);
  });

  it('leaves every other call to Node: end(cb) after finish still hears ERR_STREAM_ALREADY_FINISHED', async () => {
    const r = new (wsOf('engine.io-client').Receiver)();
    r.end();
    await finished(r);
    const err = await new Promise<Error | null | undefined>((resolve) => r.end(resolve));
    expect((err as NodeJS.ErrnoException).code).toBe('ERR_STREAM_ALREADY_FINISHED');
  });

  // The day ws ends a receiver once per close, this fails: the patch then has nothing to skip and goes.
  it('is still needed: a closing handshake ends each receiver again after it finished', async () => {
    const ws = wsOf('engine.io');
    const proto = ws.Receiver.prototype;
    const patched = proto.end;
    let skipped = 0;
    proto.end = function (this: Writable, ...args: unknown[]) {
      if (args.length === 0 && (this.writableFinished || this.destroyed)) skipped++;
      return (patched as (...a: unknown[]) => Writable).apply(this, args);
    } as Writable['end'];
    try {
      const server = new ws.WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((r) => server.once('listening', r));
      const serverClosed = new Promise((resolve) => server.once('connection', (s) => s.once('close', resolve)));
      const client = new ws.WebSocket(`ws://127.0.0.1:${server.address().port}`);
      await new Promise((r) => client.once('open', r));
      const clientClosed = new Promise((resolve) => client.once('close', resolve));
      client.close(4001);
      await Promise.all([serverClosed, clientClosed]);
      server.close();
    } finally {
      proto.end = patched;
    }
    expect(skipped).toBeGreaterThan(0);
  });

  it('a WebSocket closing handshake still completes on both ends', async () => {
    const ws = wsOf('engine.io');
    const server = new ws.WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const serverClosed = new Promise<number>((resolve) => server.once('connection', (s) => s.once('close', (code: number) => resolve(code))));
    const client = new ws.WebSocket(`ws://127.0.0.1:${server.address().port}`);
    await new Promise((r) => client.once('open', r));
    const clientClosed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
    client.close(4001);
    await expect(serverClosed).resolves.toBe(4001);
    await expect(clientClosed).resolves.toBe(4001);
    server.close();
  });
});
