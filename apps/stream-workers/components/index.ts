import type { ComponentDefinition } from '../manager/component.js';
import { ConsoleLoggerComponent } from './console-logger.component.js';
import { StreamStateComponent } from './stream-state.component.js';

/**
 * Every component a UserStreamManager runs, started in this order and stopped in reverse.
 * Adding one: write a class implementing Component, and add its definition here.
 */
export const COMPONENTS: readonly ComponentDefinition[] = [ConsoleLoggerComponent, StreamStateComponent];
