import type { ConsoleTick } from '#libs/contracts/index.js';
import type { Component, ComponentContext, ComponentDefinition } from '../manager/component.js';

/**
 * Logs `Console log #n` once per CONSOLE_LOGGER_INTERVAL_MS while the manager lives; n is kept in
 * the manager's memory, so a restart of this component after a crash, or a graceful move of the
 * manager to another worker, goes on counting. Each tick
 * is also published on stream.console.<userId>.tick, which the gateway relays to the user's tabs.
 */
export class ConsoleLogger implements Component {
  private count = 0;
  private unsubscribe?: () => void;

  start(ctx: ComponentContext) {
    this.count = (ctx.memory.get('count') as number | undefined) ?? 0;
    this.unsubscribe = ctx.ticker.every(ctx.config.consoleLoggerIntervalMs, ({ at }) => {
      this.count++;
      ctx.memory.set('count', this.count);
      ctx.log(`Console log #${this.count} - ${at}`);
      const tick: ConsoleTick = { userId: ctx.userId, n: this.count, at, workerId: ctx.workerId, generation: ctx.generation };
      ctx.emit('console.tick', tick);
    });
  }

  stop() {
    this.unsubscribe?.();
  }

  info() {
    return { count: this.count };
  }
}

export const ConsoleLoggerComponent: ComponentDefinition = { name: 'ConsoleLogger', create: () => new ConsoleLogger() };
