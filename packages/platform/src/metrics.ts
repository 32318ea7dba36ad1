// Prometheus metrics, one registry per app so tests can run several apps in one
// process without their metrics colliding.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // The event-loop delay is sampled by a timer; prom-client's default of every 10 ms wakes an idle
  // process 100 times a second, which on a VM is a measurable share of what a service costs at
  // moderate load (bench/FINDINGS.md). Every 100 ms still shows any stall worth a look.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  return registry;
}

/** Returns the metric already registered under that name, or registers a new one. */
export function metric<M extends Counter | Gauge | Histogram>(
  registry: Registry,
  name: string,
  create: () => M,
): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}
