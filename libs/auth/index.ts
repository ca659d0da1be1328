export * from './token.js';
export * from './verifier.js';
