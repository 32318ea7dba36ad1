export * from './histogram.js';
export * from './options.js';
export { seededRandom } from './random.js';
export * from './report.js';
export * from './runner.js';
export * from './schedule.js';
export * from './stats.js';
export { SetupError } from './traffic.js';
