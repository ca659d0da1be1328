export * from './redis.js';
export * from './keys.js';
