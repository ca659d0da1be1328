export * from './redis.js';
export * from './keys.js';
export * from './markers.js';
export * from './write-probe.js';
export * from './redis-url.js';
