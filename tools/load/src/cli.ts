#!/usr/bin/env node
// The load generator's command line: parse, run, print a line per interval and
// a summary (text, or JSON on stdout with --output json). Ctrl-C (or SIGTERM,
// as a Deployment is stopped) ends the arrivals and still prints the summary;
// a second one quits at once.
import { HELP, parseLoadArgs, UsageError } from './options.js';
import { formatInterval, formatSummary } from './report.js';
import { runLoad } from './runner.js';
import { SetupError } from './traffic.js';

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseLoadArgs>;
  try {
    parsed = parseLoadArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${HELP}`);
      return 2;
    }
    throw error;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { options } = parsed;
  // Progress goes to stdout for people, to stderr when stdout carries the JSON summary.
  const progress = options.output === 'json' ? process.stderr : process.stdout;
  const stopper = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    progress.write(`${signal}: no new arrivals; letting the orders in flight finish (again to quit now)\n`);
    stopper.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const summary = await runLoad(options, {
      signal: stopper.signal,
      onProgress: (message) => progress.write(`▸ ${message}\n`),
      beforeArrivals: () => {
        progress.write(
          `▸ ${options.ordersPerSecond} orders/s for ${options.durationMs > 0 ? `${options.durationMs / 1000}s` : 'ever (until stopped)'}, ${options.arrivals} arrivals, seed ${options.seed}\n`,
        );
      },
      onInterval: (report) => progress.write(`${formatInterval(report)}\n`),
    });
    if (options.output === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`\n${formatSummary(summary)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof SetupError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(
      `load generator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
