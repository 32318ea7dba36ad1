// `make chaos`: the chaos scenario from the command line; exits 1 when an invariant is violated.
import { parseArgs } from 'node:util';
import { parseDuration } from '@shop/load';
import { buildServices } from './build.js';
import { chaosVictims, defaultChaosInfra, formatChaosReport, runChaos } from './chaos.js';
import type { ServiceName } from './services.js';

const HELP = `make chaos: load through the gateway while services are killed -9, Kafka and Postgres restarted

Runs the whole system on its own Postgres and Kafka (scripts/chaos-infra.sh,
ports 25432 and 29092, or CHAOS_PG_PORT, CHAOS_KAFKA_PORT and
CHAOS_KAFKA_CONTROLLER_PORT; data in .run/chaos), so it neither disturbs nor is
disturbed by \`make dev\` or the tests. For --duration, a random service is
killed -9 every few seconds and started again; the broker is restarted at 30%
and Postgres at 60%. Then the system settles and every invariant is checked.
Exit code 0: every invariant holds; 1: one does not (or a service exited on
its own); 2: bad usage.

Usage: make chaos [CHAOS_FLAGS="..."]

  --duration D      how long the load and the faults run (5m)
  --rate N          orders per second (5)
  --kill-every D    mean time between kills (5s)
  --down D          mean time a killed service stays down (2s)
  --victims a,b     services to kill (${chaosVictims.join(',')})
  --no-infra        do not restart Kafka and Postgres
  --settle D        time allowed to settle afterwards (3m)
  --seed N          random seed for the faults and the load
  --keep-infra      leave the private Postgres and Kafka running (faster next run)
  --source          run the services through tsx, as make dev does (default: build
                    them and run dist/ as their images do, which restarts faster)
  --output json     the report as JSON on stdout (progress on stderr)

Example:
  make chaos CHAOS_FLAGS="--duration 2m --rate 8 --kill-every 4s"
`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  const parse = (args: string[]) =>
    parseArgs({
      args,
      options: {
        duration: { type: 'string', default: '5m' },
        rate: { type: 'string', default: '5' },
        'kill-every': { type: 'string', default: '5s' },
        down: { type: 'string', default: '2s' },
        victims: { type: 'string', default: chaosVictims.join(',') },
        'no-infra': { type: 'boolean', default: false },
        settle: { type: 'string', default: '3m' },
        seed: { type: 'string' },
        'keep-infra': { type: 'boolean', default: false },
        source: { type: 'boolean', default: false },
        output: { type: 'string', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  let options: Parameters<typeof runChaos>[0];
  try {
    values = parse(process.argv.slice(2)).values;
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const victims = values.victims.split(',').map((v) => v.trim());
    const unknown = victims.filter((v) => !(chaosVictims as string[]).includes(v));
    if (unknown.length > 0)
      throw new Error(`--victims: unknown ${unknown.join(', ')}; known: ${chaosVictims.join(', ')}`);
    const rate = Number(values.rate);
    if (!(rate > 0)) throw new Error('--rate must be a number above 0');
    if (values.output !== 'text' && values.output !== 'json')
      throw new Error('--output must be text or json');
    options = {
      durationMs: parseDuration(values.duration, 'duration'),
      ordersPerSecond: rate,
      killEveryMs: parseDuration(values['kill-every'], 'kill-every'),
      downMs: parseDuration(values.down, 'down'),
      victims: victims as ServiceName[],
      restartInfra: !values['no-infra'],
      settleMs: parseDuration(values.settle, 'settle'),
      seed: values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31),
      infra: defaultChaosInfra,
      keepInfra: values['keep-infra'],
      runtime: values.source ? 'source' : 'compiled',
    };
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const json = values.output === 'json';
  const out = json ? process.stderr : process.stdout;
  if (options.runtime === 'compiled') await buildServices((line) => out.write(`▸ ${line}\n`));
  const report = await runChaos({ ...options, onProgress: (line) => out.write(`▸ ${line}\n`) });
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`\n${formatChaosReport(report)}\n`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(
      `chaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
