// The chaos scenario of `make chaos`, shortened: load through the gateway while a
// random service is killed -9 every few seconds, the broker and Postgres are
// restarted once each; afterwards every invariant holds. It runs on its own
// Postgres and Kafka (scripts/chaos-infra.sh), so the shared ones that other
// test files use are never restarted.
import { join } from 'node:path';
import { repoRoot } from '@shop/testkit';
import { expect, it } from 'vitest';
import { chaosVictims, formatChaosReport, runChaos } from '../src/index.js';

it('keeps every invariant through kills, a broker restart and a Postgres restart', async () => {
  const report = await runChaos({
    durationMs: 75_000,
    ordersPerSecond: 3,
    killEveryMs: 5000,
    downMs: 1500,
    victims: chaosVictims,
    restartInfra: true,
    settleMs: 180_000,
    seed: Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31),
    // Not the ports of `make chaos`, so both can run at once.
    infra: {
      runDir: join(repoRoot, '.run', 'chaos-e2e'),
      pgPort: 25532,
      kafkaPort: 29192,
      kafkaControllerPort: 29193,
    },
    keepInfra: false,
    onProgress: (line) => process.stdout.write(`chaos: ${line}\n`),
  });
  process.stdout.write(`${formatChaosReport(report)}\n`);
  expect(report.kills).toBeGreaterThanOrEqual(6);
  expect(report.infraRestarts.map((e) => e.what).sort()).toEqual(['restart kafka', 'restart postgres']);
  expect(report.load.orders.accepted).toBeGreaterThan(0);
  expect(report.unplannedExits).toEqual([]);
  expect(
    report.invariants.filter((r) => !r.ok),
    formatChaosReport(report),
  ).toEqual([]);
}, 900_000);
