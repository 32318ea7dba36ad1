// OpenTelemetry for a service process, started by instrument.ts when tracing is
// on. Lean on purpose, because every request pays for what is loaded here:
//   - a tracer provider whose sampler the standard OTEL_TRACES_SAMPLER variables
//     choose (the chart's production default: parent-based, 10%);
//   - batched OTLP/HTTP protobuf export where OTEL_EXPORTER_OTLP_* point;
//   - three instrumentations, the ones that see this system's work: Fastify's
//     requests (@fastify/otel, which also continues a caller's trace), outgoing
//     HTTP through undici (which carries the trace to the next service), and
//     Postgres (pg) inside a traced request or message.
// Kafka hops are traced by the platform itself: the outbox carries the trace in
// the envelope and consumer.ts continues it. The auto-instrumentations would
// also load node:http (a second span per request, and event-emitter binding on
// every request and response), fs, dns, net, kafkajs (a root trace of its own
// per relay send) and thirty-odd libraries the shop does not use: start-up time,
// memory and CPU for nothing a person reads in a trace.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import {
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { register as registerImportHooks } from 'import-in-the-middle/register-hooks.mjs';
import { z } from 'zod';
import { loadConfig } from './config.js';

/** Probes and scrapes: never a trace of their own. */
const UNTRACED = /^\/(health\/|metrics)/;

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * The standard variables this setup reads, checked at start-up so a typo stops
 * the process instead of silently exporting nothing. The SDK itself reads them
 * again (the sampler, the exporter's endpoint, headers and timeouts).
 */
const httpUrl = z.url({ protocol: /^https?$/ });

export const telemetryEnv = z.object({
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.literal('http/protobuf').optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.literal('http/protobuf').optional(),
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS).optional(),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
});

export type TelemetryConfig = z.infer<typeof telemetryEnv>;

/** Export when asked for (OTEL_TRACES_EXPORTER=otlp) or when an endpoint is set; never with `none`. */
export function exportsSpans(config: TelemetryConfig): boolean {
  if (config.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(
    config.OTEL_TRACES_EXPORTER ||
      config.OTEL_EXPORTER_OTLP_ENDPOINT ||
      config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  );
}

/** The instrumentations; built before anything they patch is imported. */
export function instrumentations() {
  return [
    new FastifyOtelInstrumentation({
      registerOnInitialization: true,
      ignorePaths: (route) => UNTRACED.test(route.url),
      // One span for the request and one for its handler; a span per lifecycle
      // hook (8-10 a request) cost the gateway a third of its CPU in `make bench`
      // and told an operator little the request span does not.
      instrumentHooks: false,
      // "POST /api/v1/orders" rather than "request": what a person scans a trace for.
      requestHook: (span, request) =>
        span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`),
    }),
    new UndiciInstrumentation(),
    // Background polls (the outbox relay, the saga sweeper, readiness) would otherwise start a trace per query.
    new PgInstrumentation({ requireParentSpan: true }),
  ];
}

export function startTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeTracerProvider {
  const config = loadConfig(telemetryEnv, env);
  const instrumented = instrumentations();
  // ESM imports of the instrumented packages (the services import pg from ESM)
  // are patched by import-in-the-middle's in-thread loader hooks, limited to
  // those packages: unlimited, it would wrap every module the process loads.
  registerImportHooks({
    include: instrumented.flatMap((instrumentation) =>
      instrumentation.getModuleDefinitions().map((definition) => definition.name),
    ),
  });
  const provider = new NodeTracerProvider({
    // Only local detectors: the cloud ones probe metadata addresses off this host.
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }).merge(
      detectResources({ detectors: [envDetector, processDetector, hostDetector] }),
    ),
    // Without an exporter spans are still made (sampled as configured), so logs and
    // propagated context carry real trace ids.
    spanProcessors: exportsSpans(config) ? [new BatchSpanProcessor(new OTLPTraceExporter())] : [],
  });
  provider.register();
  registerInstrumentations({ tracerProvider: provider, instrumentations: instrumented });
  return provider;
}
