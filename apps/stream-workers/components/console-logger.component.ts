import type { Component, ComponentContext, ComponentDefinition } from '../manager/component.js';

/** Logs `Console log #n` once per CONSOLE_LOGGER_INTERVAL_MS while the manager lives. */
export class ConsoleLogger implements Component {
  private count = 0;
  private unsubscribe?: () => void;

  start(ctx: ComponentContext) {
    this.unsubscribe = ctx.ticker.every(ctx.config.consoleLoggerIntervalMs, () => {
      this.count++;
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
