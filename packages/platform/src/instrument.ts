// Loaded with `node --import @shop/platform/instrument` ahead of a service's main
// module. With OTEL_SDK_DISABLED=true it loads nothing at all; otherwise it
// starts tracing (telemetry.ts) before the service graph is loaded. Spans still
// in memory are flushed by the lifecycle's shutdown (flushTelemetry).
if (process.env.OTEL_SDK_DISABLED !== 'true') {
  const [{ startTelemetry }, { failStartup }] = await Promise.all([
    import('./telemetry.js'),
    import('./lifecycle.js'),
  ]);
  try {
    startTelemetry(process.env.SERVICE_NAME ?? 'unknown-service');
  } catch (error) {
    failStartup(error);
  }
}
