export * from './build.js';
export * from './countries.js';
export * from './envelope.js';
export * from './messages.js';
export * from './parse.js';
export * from './shipping.js';
export * from './system.js';
export * from './topics.js';
