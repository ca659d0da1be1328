import type { UserStreamManager } from './user-stream-manager.js';
import { runInScope } from './component-scope.js';
import type { CrashMode } from '#libs/contracts/index.js';

/**
 * Makes a running component fail the way a buggy one would (FAULT_INJECTION=1 only: tests, chaos
 * runs, demos). Each mode raises the error from inside the component's own scope, through one of
 * the paths a component's code can fail by, so the real supervision path is what is exercised.
 * Answers false when the component does not run.
 */
export function injectFault(manager: UserStreamManager, component: string, how: CrashMode): boolean {
  if (how === 'fail') return manager.crash(component);
  const target = manager.scopeOf(component);
  if (!target) return false;
  const { scope, ctx } = target;
  const boom = () => new Error(`injected ${how} in ${component}`);
  switch (how) {
    case 'tick': {
      const cancel = ctx.ticker.every(ctx.config.consoleLoggerIntervalMs, () => {
        cancel();
        throw boom();
      });
      return true;
    }
    case 'tick-rejection': {
      const cancel = ctx.ticker.every(ctx.config.consoleLoggerIntervalMs, async () => {
        cancel();
        await Promise.resolve();
        throw boom();
      });
      return true;
    }
    case 'timer':
      ctx.setTimeout(() => {
        throw boom();
      }, 1);
      return true;
    case 'spawn':
      ctx.spawn(() => Promise.reject(boom()));
      return true;
    case 'raw-timer':
      // Not through the context: a plain timer the component's code set itself.
      runInScope(scope, () =>
        setTimeout(() => {
          throw boom();
        }, 1),
      );
      return true;
    case 'raw-rejection':
      runInScope(scope, () => void Promise.reject(boom()));
      return true;
  }
}
