export * from './invariants.js';
export * from './migrate.js';
export * from './paths.js';
export * from './secrets.js';
export * from './seed.js';
export * from './service-process.js';
export * from './services.js';
export * from './stack.js';
