export * from './core.module.js';
export * from './readiness.js';
export * from './observability.controller.js';
export * from './bootstrap.js';
export * from './basic-auth.js';
