export * from './database.js';
export * from './infra.js';
export * from './kafka.js';
export * from './logger.js';
export * from './process.js';
export * from './sql.js';
export * from './wait.js';
