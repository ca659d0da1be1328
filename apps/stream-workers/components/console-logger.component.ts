import type { Component, ComponentContext, ComponentDefinition } from '../manager/component.js';

/**
 * Logs `Console log #n` once per CONSOLE_LOGGER_INTERVAL_MS while the manager lives; n is kept in
 * the manager's memory, so a restart of this component after a crash goes on counting.
 */
export class ConsoleLogger implements Component {
  private count = 0;
  private unsubscribe?: () => void;

  start(ctx: ComponentContext) {
    this.count = (ctx.memory.get('count') as number | undefined) ?? 0;
    this.unsubscribe = ctx.ticker.every(ctx.config.consoleLoggerIntervalMs, () => {
      this.count++;
      ctx.memory.set('count', this.count);
      ctx.log(`Console log #${this.count} - ${new Date().toISOString()}`);
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
