// The bluegreen command line: parse, connect, run one command, print the result
// (text for people on stdout, --output json for machines), exit with a code a
// script can act on. Progress goes to stderr.
import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import type { CheckPolicy } from './checks.js';
import { abort } from './commands/abort.js';
import { errorOutcome, type GlobalOptions, type Outcome } from './commands/common.js';
import { deploy } from './commands/deploy.js';
import { history } from './commands/history.js';
import { status } from './commands/status.js';
import { switchColor } from './commands/switch.js';
import type { Context } from './cutover.js';
import { parseDuration } from './duration.js';
import { BluegreenError, EXIT_CODE_HELP, ExitCode, type StopReason, usageError } from './errors.js';
import { connect, type Kube } from './kube.js';
import { objectNames, type Target } from './names.js';
import { findTargets } from './observe.js';
import { createReporter, type Reporter } from './progress.js';

const stopper = new AbortController();
let stopRequests = 0;
let activeReporter: Reporter | undefined;

function onSignal(signal: NodeJS.Signals): void {
  stopRequests += 1;
  if (stopRequests > 1) {
    process.stderr.write(`\n${signal} again: quitting now. A lock still held expires by itself.\n`);
    process.exit(ExitCode.interrupted);
  }
  const reason: StopReason = { kind: 'interrupted', message: `interrupted by ${signal}` };
  activeReporter?.warn(
    `${signal}: stopping; traffic stays where it was, the lock is released (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit at once)`,
  );
  stopper.abort(reason);
}

function actor(): string {
  if (process.env.BLUEGREEN_ACTOR) return process.env.BLUEGREEN_ACTOR;
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = `uid-${process.getuid?.() ?? '?'}`;
  }
  return `${user}@${os.hostname()}`;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw usageError(`${flag} must be a whole number >= 1, got "${value}"`);
    return n;
  };
}

function globals(command: Command): GlobalOptions {
  const o = command.optsWithGlobals() as GlobalOptions;
  if (o.output !== 'text' && o.output !== 'json')
    throw usageError(`--output must be text or json, got "${o.output}"`);
  return o;
}

function print(outcome: Outcome, output: 'text' | 'json'): never {
  if (output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ ...outcome.data, exitCode: outcome.exitCode, ...(outcome.error ? { error: outcome.error } : {}) }, null, 2)}\n`,
    );
  } else if (outcome.text.length > 0) {
    process.stdout.write(`${outcome.text.join('\n')}\n`);
  }
  if (outcome.error) {
    process.stderr.write(`error: ${outcome.error.message}\n`);
    if (outcome.error.hint) process.stderr.write(`  what to do: ${outcome.error.hint}\n`);
  }
  process.exit(outcome.exitCode);
}

/** Runs one command and exits with its code, whatever happens. */
async function run(
  command: Command,
  work: (kube: Kube, o: GlobalOptions) => Promise<Outcome>,
): Promise<void> {
  let output: 'text' | 'json' = 'text';
  let kube: Kube | undefined;
  try {
    const o = globals(command);
    output = o.output;
    kube = connect(o);
    print(await work(kube, o), output);
  } catch (error) {
    print(errorOutcome(error, kube, {}, 'talking to the API server'), output);
  }
}

async function oneTarget(kube: Kube, o: GlobalOptions, service: string): Promise<Target> {
  const [target] = await findTargets(kube, [service], o.release);
  return target!;
}

function context(kube: Kube, target: Target, reporter: Reporter, leaseDuration: string | undefined): Context {
  const leaseMs = parseDuration(leaseDuration ?? '30s', '--lease-duration');
  if (leaseMs < 1000) throw usageError('--lease-duration must be at least 1s');
  const who = actor();
  activeReporter = reporter;
  return {
    kube,
    target,
    names: objectNames(target),
    reporter,
    signal: stopper.signal,
    stop: (reason) => {
      if (!stopper.signal.aborted) {
        reporter.warn(`stopping: ${reason.message}`);
        stopper.abort(reason);
      }
    },
    actor: who,
    identity: `${who} (pid ${process.pid})`,
    leaseDurationSeconds: Math.ceil(leaseMs / 1000),
  };
}

interface CheckFlags {
  checkUrl: string[];
  preCheckUrl: string[];
  checkSuccesses: number;
  checkFailures: number;
  checkInterval: string;
  checkTimeout: string;
  checkDeadline: string;
  endpointsTimeout: string;
  leaseDuration: string;
  dryRun?: boolean;
}

function checkPolicy(f: CheckFlags): CheckPolicy {
  return {
    successes: f.checkSuccesses,
    failures: f.checkFailures,
    intervalMs: parseDuration(f.checkInterval, '--check-interval'),
    requestTimeoutMs: parseDuration(f.checkTimeout, '--check-timeout'),
    deadlineMs: parseDuration(f.checkDeadline, '--check-deadline'),
  };
}

function checkOptions(command: Command, post: boolean): Command {
  if (post) {
    command.option(
      '--check-url <url>',
      'post-promotion HTTP check, repeatable: after the switch, each URL must answer 2xx --check-successes times in a row, else traffic is switched back (exit 4)',
      collect,
      [],
    );
  }
  return command
    .option(
      '--pre-check-url <url>',
      'pre-promotion HTTP check, repeatable (e.g. through the preview Service): must pass before the switch, else exit 3 and nothing is switched',
      collect,
      [],
    )
    .option(
      '--check-successes <n>',
      'consecutive 2xx answers each check URL needs',
      positiveInt('--check-successes'),
      3,
    )
    .option(
      '--check-failures <n>',
      'failed answers of one URL that fail the checks',
      positiveInt('--check-failures'),
      3,
    )
    .option('--check-interval <duration>', 'pause between check rounds', '1s')
    .option('--check-timeout <duration>', 'timeout of one check request', '2s')
    .option('--check-deadline <duration>', 'the checks fail if they have not passed by then', '60s');
}

function commonSwitchOptions(command: Command): Command {
  return command
    .option('--dry-run', 'print the plan and change nothing')
    .option(
      '--endpoints-timeout <duration>',
      'how long the EndpointSlices may take to list only the new color',
      '60s',
    )
    .option(
      '--lease-duration <duration>',
      'lock duration: a lock left by a killed process is taken over after this',
      '30s',
    );
}

export function buildProgram(): Command {
  const program = new Command('bluegreen');
  program
    .description(
      'Blue-green cutovers for the shop Helm release: deploy a new image to the idle color, switch the Service once it is fully ready, verify, roll back in one step.',
    )
    .exitOverride()
    .showHelpAfterError('(add --help for usage and examples)')
    .option(
      '-n, --namespace <namespace>',
      "namespace (default: the kubeconfig context's, in a pod its own, else default)",
    )
    .option('--context <name>', 'kubeconfig context to use (default: the current one)')
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)',
    )
    .option('--release <name>', 'Helm release, when a namespace holds several')
    .addOption(new Option('-o, --output <format>', 'result format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Each command first computes a plan from what it observes (print it with
--dry-run), then carries it out step by step with visible progress on stderr.
State lives on the cluster (docs/bluegreen-conventions.md): the active color in
the Service selector, the lock in a Lease, the history in a ConfigMap.

${EXIT_CODE_HELP}

Examples:
  $ bluegreen status -n shop
  $ bluegreen deploy users -n shop --image registry.example/shop-users:1.4.2
  $ bluegreen rollback users -n shop`,
    );

  program
    .command('status')
    .description(
      'active and preview color of each service, the image and replica counts of each color, the lock, the last cutover',
    )
    .argument('[service...]', 'services to show (default: every blue-green service in the namespace)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bluegreen status -n shop\n  $ bluegreen status users orders -n shop -o json',
    )
    .action(async (services: string[], _opts, command: Command) => {
      await run(command, async (kube, o) => status(kube, await findTargets(kube, services, o.release)));
    });

  checkOptions(
    commonSwitchOptions(
      program
        .command('deploy')
        .description(
          'roll a new image out to the idle color, wait until it is fully ready, switch traffic to it, verify; switch back automatically if the verification fails',
        )
        .argument('<service>', 'the service, e.g. users')
        .requiredOption('--image <ref>', 'the image for the idle color')
        .option(
          '--replicas <n>',
          "replicas for the new color (default: the active color's)",
          positiveInt('--replicas'),
        )
        .option(
          '--timeout <duration>',
          'how long the new color may take to become ready (exit 3 after)',
          '5m',
        )
        .option(
          '--no-promote',
          'stop once the new color is ready: the preview Service serves it; finish with bluegreen promote',
        )
        .option(
          '--scale-down-after <duration>',
          'scale the old color to 0 this long after a successful cutover (never the color the Service selects); default: keep it for an instant rollback',
        ),
    ),
    true,
  )
    .addHelpText(
      'after',
      `
Examples:
  $ bluegreen deploy users -n shop --image registry.example/shop-users:1.4.2
  $ bluegreen deploy users -n shop --image registry.example/shop-users:1.4.2 --dry-run
  $ bluegreen deploy users -n shop --image registry.example/shop-users:1.4.2 \\
      --check-url https://users.example/healthz --check-successes 5 --scale-down-after 10m

Exit codes: 0 done, 2 usage, 3 not ready in time (nothing switched), 4 post-promotion
checks failed (switched back), 5 lock held, 6 precondition failed, 130 interrupted, 1 other.`,
    )
    .action(
      async (
        service: string,
        flags: CheckFlags & {
          image: string;
          replicas?: number;
          timeout: string;
          promote: boolean;
          scaleDownAfter?: string;
        },
        command: Command,
      ) => {
        await run(command, async (kube, o) => {
          const target = await oneTarget(kube, o, service);
          const reporter = createReporter();
          const ctx = context(kube, target, reporter, flags.leaseDuration);
          return deploy(ctx, {
            image: flags.image,
            replicas: flags.replicas,
            promote: flags.promote,
            dryRun: flags.dryRun === true,
            timeoutMs: parseDuration(flags.timeout, '--timeout'),
            preChecks: flags.preCheckUrl,
            postChecks: flags.checkUrl,
            policy: checkPolicy(flags),
            scaleDownAfterMs:
              flags.scaleDownAfter === undefined
                ? undefined
                : parseDuration(flags.scaleDownAfter, '--scale-down-after'),
            endpointsTimeoutMs: parseDuration(flags.endpointsTimeout, '--endpoints-timeout'),
          });
        });
      },
    );

  checkOptions(
    commonSwitchOptions(
      program
        .command('promote')
        .description(
          'finish a deploy --no-promote: switch traffic to the idle color, which must be fully ready',
        )
        .argument('<service>', 'the service, e.g. users'),
    ),
    true,
  )
    .addHelpText(
      'after',
      `
Examples:
  $ bluegreen deploy users -n shop --image registry.example/shop-users:1.4.2 --no-promote
  $ bluegreen promote users -n shop --check-url https://users.example/healthz`,
    )
    .action(async (service: string, flags: CheckFlags, command: Command) => {
      await run(command, async (kube, o) => {
        const target = await oneTarget(kube, o, service);
        const ctx = context(kube, target, createReporter(), flags.leaseDuration);
        return switchColor(ctx, 'promote', {
          dryRun: flags.dryRun === true,
          preChecks: flags.preCheckUrl,
          postChecks: flags.checkUrl,
          policy: checkPolicy(flags),
          endpointsTimeoutMs: parseDuration(flags.endpointsTimeout, '--endpoints-timeout'),
        });
      });
    });

  commonSwitchOptions(
    program
      .command('rollback')
      .description(
        'switch traffic back to the previous color, only if its pods are all Ready (otherwise refuse, exit 6, and say what to do)',
      )
      .argument('<service>', 'the service, e.g. users'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ bluegreen rollback users -n shop\n  $ bluegreen rollback users -n shop --dry-run',
    )
    .action(async (service: string, flags: CheckFlags, command: Command) => {
      await run(command, async (kube, o) => {
        const target = await oneTarget(kube, o, service);
        const ctx = context(kube, target, createReporter(), flags.leaseDuration);
        return switchColor(ctx, 'rollback', {
          dryRun: flags.dryRun === true,
          preChecks: [],
          postChecks: [],
          policy: { successes: 1, failures: 1, intervalMs: 1000, requestTimeoutMs: 2000, deadlineMs: 1000 },
          endpointsTimeoutMs: parseDuration(flags.endpointsTimeout, '--endpoints-timeout'),
        });
      });
    });

  program
    .command('abort')
    .description(
      "stop the deploy in progress (this or another machine's): the lock holder is asked through the Lease, stops at its next step and leaves traffic where it was",
    )
    .argument('<service>', 'the service, e.g. users')
    .option('--timeout <duration>', 'how long to wait for the holder to let go', '60s')
    .addHelpText('after', '\nExamples:\n  $ bluegreen abort users -n shop')
    .action(async (service: string, flags: { timeout: string }, command: Command) => {
      await run(command, async (kube, o) => {
        const target = await oneTarget(kube, o, service);
        const reporter = createReporter();
        activeReporter = reporter;
        return abort(kube, target, actor(), parseDuration(flags.timeout, '--timeout'), reporter);
      });
    });

  program
    .command('history')
    .description(
      'past cutovers of a service, newest first (who, when, from, to, images, result), kept on the cluster',
    )
    .argument('<service>', 'the service, e.g. users')
    .option('--limit <n>', 'show at most this many', positiveInt('--limit'), 50)
    .addHelpText(
      'after',
      '\nExamples:\n  $ bluegreen history users -n shop\n  $ bluegreen history users -n shop -o json --limit 5',
    )
    .action(async (service: string, flags: { limit: number }, command: Command) => {
      await run(command, async (kube, o) => history(kube, await oneTarget(kube, o, service), flags.limit));
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        process.exit(0);
      }
      process.exit(ExitCode.usage);
    }
    if (error instanceof BluegreenError) {
      process.stderr.write(`error: ${error.message}\n${error.hint ? `  what to do: ${error.hint}\n` : ''}`);
      process.exit(error.exitCode);
    }
    process.stderr.write(`error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(ExitCode.other);
  }
}

await main(process.argv);
