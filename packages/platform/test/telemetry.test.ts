import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { exportsSpans, instrumentations, telemetryEnv } from '../src/telemetry.js';

const config = (env: Record<string, string>) => loadConfig(telemetryEnv, env);

describe('telemetry configuration', () => {
  it('exports when asked to or when an endpoint is set, and never with none', () => {
    expect(exportsSpans(config({}))).toBe(false);
    expect(exportsSpans(config({ OTEL_TRACES_EXPORTER: 'otlp' }))).toBe(true);
    expect(exportsSpans(config({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }))).toBe(true);
    expect(
      exportsSpans(config({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })),
    ).toBe(true);
    expect(
      exportsSpans(
        config({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }),
      ),
    ).toBe(false);
  });

  it('reads the production sampler', () => {
    expect(
      config({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }),
    ).toMatchObject({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 0.1 });
  });

  it('names each variable it cannot honour instead of exporting nothing', () => {
    const refused = () =>
      config({
        OTEL_TRACES_EXPORTER: 'zipkin',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '2',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      });
    expect(refused).toThrow(ConfigError);
    try {
      refused();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        'OTEL_TRACES_EXPORTER',
        'OTEL_TRACES_SAMPLER',
        'OTEL_TRACES_SAMPLER_ARG',
      ]);
    }
  });

  it('instruments Fastify, undici and pg, and hooks the loading of pg alone', () => {
    const loaded = instrumentations();
    expect(loaded.map((i) => i.instrumentationName).sort()).toEqual([
      '@fastify/otel',
      '@opentelemetry/instrumentation-pg',
      '@opentelemetry/instrumentation-undici',
    ]);
    expect(loaded.flatMap((i) => i.getModuleDefinitions().map((d) => d.name)).sort()).toEqual([
      'pg',
      'pg-pool',
    ]);
    for (const instrumentation of loaded) instrumentation.disable();
  });
});
