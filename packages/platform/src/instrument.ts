// Loaded with `node --import @shop/platform/instrument` ahead of a service's main
// module: registers the ESM loader hook (so ESM imports of pg, kafkajs and fastify
// are instrumented too) and starts the SDK before the service graph is loaded.
// Spans still in memory are flushed by the lifecycle's shutdown (flushTelemetry).
import { register } from 'node:module';
import { startTelemetry } from './telemetry.js';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
startTelemetry(process.env.SERVICE_NAME ?? 'unknown-service');
