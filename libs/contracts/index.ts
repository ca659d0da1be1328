export * from './subjects.js';
export * from './schemas.js';
export * from './jobs.js';
export * from './presence-diff.js';
export * from './gateway-sessions.js';
export * from './message-ids.js';
export * from './events.js';
