// `make dev`: the whole system on this machine, with the developer's databases
// from `make infra-up`, sources watched, logs readable. Ctrl-C stops it all.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultJaegerPorts, Jaeger } from './jaeger.js';
import { runDir } from './paths.js';
import { prettyPrinter } from './pretty.js';
import { persistentSecrets } from './secrets.js';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from './seed.js';
import { databaseServices, defaultPorts, type ServiceName, serviceNames } from './services.js';
import { defaultLedgerFile, Stack } from './stack.js';

const say = (message: string) => process.stdout.write(`\x1b[1m▸\x1b[0m ${message}\n`);

/** `.run/infra.env`, each variable overridable from the environment (tests point at fresh databases). */
function infraEnv(): Record<string, string> {
  const file = join(runDir, 'infra.env');
  if (!existsSync(file)) throw new Error('.run/infra.env is missing: run `make infra-up` first');
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries.map(([name, value]) => [name, process.env[name] ?? value]));
}

/** The default ports, or all moved by the same offset so they start at SHOP_DEV_PORT_BASE. */
function ports(): Record<ServiceName, number> {
  const base = process.env.SHOP_DEV_PORT_BASE;
  if (!base) return defaultPorts;
  const offset = Number(base) - defaultPorts.gateway;
  if (!Number.isInteger(offset)) throw new Error(`SHOP_DEV_PORT_BASE is not a port: ${base}`);
  return Object.fromEntries(
    Object.entries(defaultPorts).map(([name, port]) => [name, port + offset]),
  ) as Record<ServiceName, number>;
}

async function main(): Promise<void> {
  const infra = infraEnv();
  const databases = Object.fromEntries(
    databaseServices.map((name) => {
      const url = infra[`${name.toUpperCase()}_DATABASE_URL`];
      if (!url)
        throw new Error(
          `.run/infra.env has no ${name.toUpperCase()}_DATABASE_URL: run \`make infra-up\` again`,
        );
      return [name, url];
    }),
  ) as Record<(typeof databaseServices)[number], string>;

  // The trace viewer first, so the services export every trace to it from their first request.
  const jaegerLog = join(runDir, 'logs', 'jaeger.log');
  const jaeger = new Jaeger({ ports: defaultJaegerPorts(), log: { file: jaegerLog } });
  await jaeger.start();

  const stack = new Stack({
    ports: ports(),
    databases,
    kafkaBrokers: (infra.KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
    kafkaTopicPrefix: process.env.KAFKA_TOPIC_PREFIX ?? '',
    secrets: await persistentSecrets(join(runDir, 'secrets.json')),
    providerLedgerFile: defaultLedgerFile(),
    logLevel: process.env.LOG_LEVEL ?? 'info',
    watch: process.env.WATCH !== 'false',
    logs: { pretty: prettyPrinter(serviceNames) },
    env: jaeger.exportEnv(),
    onProgress: say,
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping every service');
    await stack.stop();
    await jaeger.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const started = Date.now();
  try {
    await stack.start();
  } catch (error) {
    await jaeger.stop();
    throw error;
  }
  const gateway = stack.url('gateway');
  say(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  say(`gateway  ${gateway}   (e.g. curl ${gateway}/api/v1/products)`);
  say(`API docs ${gateway}/docs`);
  say(`traces   ${jaeger.uiUrl}   (Jaeger; README.md says how to find an order's trace)`);
  say(
    `admin    ${process.env.SEED_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL} / ${process.env.SEED_ADMIN_PASSWORD ? '(SEED_ADMIN_PASSWORD)' : DEFAULT_ADMIN_PASSWORD}`,
  );
  say('Ctrl-C stops everything');
}

main().catch((error) => {
  process.stderr.write(`make dev failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
