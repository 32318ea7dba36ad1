export * from './envelope.js';
export * from './messages.js';
export * from './topics.js';
export * from './parse.js';
export * from './build.js';
