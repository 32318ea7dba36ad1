// Trace context helpers on the OpenTelemetry API only (no SDK), for code that
// carries a trace across a boundary no instrumentation sees: the outbox.
// (@fastify/otel's types add the `otel` route option used below.)
/// <reference types="@fastify/otel" preserve="true" />
import {
  type Context,
  context,
  type ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';

/** The W3C traceparent of the active span, or null when there is none. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** A context whose parent is the given traceparent (or the root context without one). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

export const tracer = trace.getTracer('@shop/platform');

/** Route config: no span for the handler, for a route whose handler would be an empty span. */
export const NO_HANDLER_SPAN = { otel: { instrumentHandler: false } } as const;

/** Exports the spans still buffered; a no-op when telemetry is off. */
export async function flushTelemetry(): Promise<void> {
  const provider = trace.getTracerProvider() as ProxyTracerProvider;
  const delegate = provider.getDelegate?.() as { forceFlush?: () => Promise<void> } | undefined;
  await delegate?.forceFlush?.();
}
