import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';

const GUARDED = Symbol.for('presence-lifecycle.ws-receiver-end-guard');

type ReceiverPrototype = Writable & { [GUARDED]?: true };

/**
 * A closing WebSocket ends its frame receiver (a Writable) up to three times: on the close frame,
 * on the socket's `end` and on its `close` (ws 8, lib/websocket.js and lib/receiver.js). Every call
 * after the first makes Node build an ERR_STREAM_ALREADY_FINISHED error, with a stack trace taken
 * at unlimited depth, only to drop it: ws passes no callback to hear it. In a mass close that error
 * nobody reads is a visible share of the gateway's CPU (docs/BENCHMARKS.md, the changelog's `ws` entry).
 *
 * After this, a bare `end()` of a receiver that has finished or been destroyed returns at once,
 * which is all Node did with it, less the error nobody reads. Any other call is Node's own.
 *
 * `user` is the package whose copy of ws is meant (`engine.io` for the server, `engine.io-client`
 * for Node clients): they pin ws themselves, and a ws of our own could be another copy. Without
 * that package, or without ws's Receiver (another ws release), nothing changes. Idempotent.
 */
export function skipRepeatedReceiverEnds(user: 'engine.io' | 'engine.io-client'): boolean {
  let proto: ReceiverPrototype | undefined;
  try {
    const here = createRequire(import.meta.url);
    const ws = createRequire(here.resolve(user))('ws') as { Receiver?: { prototype: ReceiverPrototype } };
    proto = ws.Receiver?.prototype;
  } catch {
    return false;
  }
  if (!proto || typeof proto.end !== 'function') return false;
  if (proto[GUARDED]) return true;
  const end = proto.end;
  proto.end = function (this: Writable, ...args: unknown[]) {
    if (args.length === 0 && (this.writableFinished || this.destroyed)) return this;
    return (end as (...a: unknown[]) => Writable).apply(this, args);
  } as Writable['end'];
  proto[GUARDED] = true;
  return true;
}
