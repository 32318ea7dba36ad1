// Running a service process: listen, then on SIGTERM or SIGINT stop in order.
// Readiness turns false at once (so a load balancer stops sending), in-flight
// requests finish, consumers stop after their current message, connections
// close, and the process exits within the grace period whatever happens.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { BlueGreenEnv } from './active-color.js';
import { releaseStartupMemory } from './startup-memory.js';
import { flushTelemetry } from './tracing.js';
import { followTrafficSelection } from './traffic-selection.js';

export interface StopStep {
  name: string;
  stop: () => Promise<unknown>;
}

export interface RunOptions {
  app: FastifyInstance;
  host: string;
  port: number;
  graceMs: number;
  /** Run after the HTTP server has drained, in this order, after the steps `start` returns. */
  stopSteps?: StopStep[];
  /** Starts what runs beside the server (consumers, relays, timers) and returns how to stop it. */
  start?: () => Promise<StopStep[] | undefined>;
  /** A blue-green pod's color and active Service: keep-alive follows it (traffic-selection.ts). */
  blueGreen?: BlueGreenEnv;
}

export async function runService(options: RunOptions): Promise<void> {
  const { app, graceMs } = options;
  const log = app.log;
  const steps = [...(options.stopSteps ?? [])];

  closeWithGrace({ delay: graceMs }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'stopping after an unexpected error');
    else log.info({ signal, graceMs }, 'stopping');
    await stopService(app, steps);
  });

  // Live at once, but not ready until what runs beside the server has started.
  let started = false;
  app.readiness.add('startup', async () => {
    if (!started) throw new Error('still starting (consumers, relay)');
  });
  const stopFollowing = await followTrafficSelection(app, options.blueGreen ?? {}, log);
  steps.push({ name: 'active color', stop: stopFollowing });
  await app.listen({ host: options.host, port: options.port });
  steps.unshift(...((await options.start?.()) ?? []));
  started = true;
  log.info({ address: `http://${options.host}:${options.port}` }, 'ready');
  releaseStartupMemory();
}

// The lame duck: a stopping server first answers what still arrives, each answer with Connection:
// close, and closes once requests have stopped coming for QUIET_MS (at most LAME_DUCK_MAX_MS).
// Clients on keep-alive connections opened before the pod left its Service (kube-proxy pins them)
// then reconnect elsewhere after their next answer. Closing at once instead destroys the idle
// connections, and a client reusing one at that instant gets a reset request (measured: one
// ECONNRESET in a real pod's SIGTERM drain under load).
const QUIET_MS = 250;
const LAME_DUCK_MAX_MS = 2000;

export async function stopService(app: FastifyInstance, steps: StopStep[]): Promise<void> {
  app.readiness.markShuttingDown();
  const since = Date.now();
  while (Date.now() - app.traffic.lastRequestAt < QUIET_MS && Date.now() - since < LAME_DUCK_MAX_MS) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await app.close();
  for (const step of steps) {
    try {
      await step.stop();
    } catch (err) {
      app.log.warn({ err, step: step.name }, 'a stop step failed; going on with the next');
    }
  }
  await flushTelemetry();
  app.log.info('stopped');
}

/** For a service's main module: report a start-up failure plainly and exit non-zero. */
export function failStartup(error: unknown): never {
  const message =
    error instanceof Error
      ? error.name === 'ConfigError'
        ? error.message
        : (error.stack ?? error.message)
      : String(error);
  process.stderr.write(`failed to start: ${message}\n`);
  process.exit(1);
}

/** Runs a service's main function, turning any start-up failure into a clear message and exit 1. */
export async function serviceMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    failStartup(error);
  }
}
