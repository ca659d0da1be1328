import { AsyncLocalStorage } from 'node:async_hooks';

/** The supervisor cell a piece of component code runs for: whose crash an escaped error is. */
export interface ComponentScope {
  /** `UserStreamManager:<userId>/<component>`, for logs. */
  readonly owner: string;
  crash(error: unknown): void;
}

/**
 * Every piece of a component's code (its start and stop, every callback its context hands out)
 * runs inside its scope. Node carries the scope into whatever that code schedules itself (a plain
 * setTimeout, a promise chain, process.nextTick), so an error nobody catches there, which would
 * otherwise end the process, is still known to be that component's and becomes its crash.
 * Not covered: a listener the component adds on a shared emitter (it runs in the emitter's
 * context) and queueMicrotask callbacks; the context's helpers are the path that always works.
 */
const storage = new AsyncLocalStorage<ComponentScope>();

export function runInScope<T>(scope: ComponentScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** For timers shared by many components (the ticker's wheels): they must not inherit one caller's scope. */
export function outsideScopes<T>(fn: () => T): T {
  return storage.exit(fn);
}

/**
 * The process-level net: an uncaught exception or unhandled rejection raised by component code is
 * that component's crash. Answers false when no component's code raised it (then it is ours).
 */
export function crashOwnerOf(error: unknown): boolean {
  const scope = storage.getStore();
  if (!scope) return false;
  scope.crash(error);
  return true;
}
