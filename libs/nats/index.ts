export * from './connection.js';
export * from './nats.service.js';
export * from './streams.js';
export * from './events.transport.js';
export * from './on-subject.decorator.js';
export * from './service-registry.js';
