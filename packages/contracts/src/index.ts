export * from './build.js';
export * from './envelope.js';
export * from './messages.js';
export * from './parse.js';
export * from './topics.js';
