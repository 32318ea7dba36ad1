// OpenTelemetry for a service process: the Node SDK with the maintained
// auto-instrumentations (HTTP, undici, pg, kafkajs, and Fastify through
// @fastify/otel), exporting over OTLP as the standard OTEL_* variables say.
// Import this through `instrument.ts` (node --import), before anything else, so
// every instrumented module is loaded after its hook is in place.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { envDetector, hostDetector, processDetector } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';

const exportConfigured = () =>
  Boolean(
    process.env.OTEL_TRACES_EXPORTER ||
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT ||
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  );

export function startTelemetry(serviceName: string): NodeSDK | undefined {
  if (process.env.OTEL_SDK_DISABLED === 'true') return undefined;
  // /metrics is served by prom-client; OTel logs would duplicate pino's.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? serviceName,
    // Only local detectors: the cloud ones probe metadata addresses off this host.
    resourceDetectors: [envDetector, processDetector, hostDetector],
    // Without an exporter, still record spans so logs and propagated context carry real trace ids.
    ...(exportConfigured() ? {} : { spanProcessors: [new NoopSpanProcessor()] }),
    instrumentations: [
      getNodeAutoInstrumentations({
        '@opentelemetry/instrumentation-fs': { enabled: false },
        '@opentelemetry/instrumentation-dns': { enabled: false },
        '@opentelemetry/instrumentation-net': { enabled: false },
        // Log correlation is done by the platform logger's mixin.
        '@opentelemetry/instrumentation-pino': { enabled: false },
        // Background polls (the outbox relay, the saga sweeper, readiness) would otherwise start a trace per query.
        '@opentelemetry/instrumentation-pg': { requireParentSpan: true },
        '@opentelemetry/instrumentation-http': {
          ignoreIncomingRequestHook: (request) => /^\/(health|metrics)/.test(request.url ?? ''),
        },
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (opts) => /^\/(health|metrics)/.test(opts.url),
        // One span for the request and one for its handler; a span per lifecycle hook
        // (8-10 a request) cost the gateway a third of its CPU in `make bench` and told
        // an operator little the request span does not.
        instrumentHooks: false,
      }),
    ],
  });
  sdk.start();
  return sdk;
}
