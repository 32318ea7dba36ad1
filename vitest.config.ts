// Tiers: `unit` needs nothing running; `integration` talks to the real Postgres and
// Kafka that `make infra-up` starts; the Kubernetes ones to the local cluster of
// `make k8s-up`. Each fails (never skips) when what it needs is not there.
import { defineConfig } from 'vitest/config';

const sourceConditions = {
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
};

export default defineConfig({
  ...sourceConditions,
  test: {
    projects: [
      {
        ...sourceConditions,
        test: {
          name: 'unit',
          include: ['{packages,services,tools}/*/test/**/*.test.ts'],
          exclude: [
            '**/*.int.test.ts',
            '**/*.e2e.test.ts',
            '**/*.fuzz.test.ts',
            '**/*.k8s.test.ts',
            '**/node_modules/**',
          ],
        },
      },
      {
        ...sourceConditions,
        test: {
          // The whole system as processes: one stack per file, files one at a time.
          name: 'e2e',
          include: ['packages/stack/test/**/*.e2e.test.ts'],
          globalSetup: ['packages/testkit/src/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 400_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          // The schema-based API fuzzer against a whole stack (make fuzz; docs/api-fuzzing.md).
          name: 'fuzz',
          include: ['packages/stack/test/**/*.fuzz.test.ts'],
          globalSetup: ['packages/testkit/src/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 400_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          name: 'integration',
          include: ['{packages,services,tools}/*/test/**/*.int.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['packages/testkit/src/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          // The bluegreen CLI against the real local control plane (scripts/k8s.sh up);
          // one namespace per file, CLI runs as processes.
          name: 'bluegreen',
          include: ['tools/bluegreen/test/**/*.k8s.test.ts'],
          globalSetup: ['tools/bluegreen/test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          // The Helm chart without a cluster: helm lint, helm template, kube-score, the schema
          // (`make helm-lint`).
          name: 'k8s-lint',
          include: ['deploy/helm/test/**/*.lint.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          // The Helm chart against the local control plane (`make test-k8s` starts it): the
          // static checks plus install, upgrade, blue-green state, rollback and helm test.
          name: 'k8s',
          include: ['deploy/helm/test/**/*.{lint,k8s}.test.ts'],
          globalSetup: ['deploy/helm/test/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 360_000,
          hookTimeout: 360_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          // The shop in real pods on the local cluster's real node (make k8s-up), against the
          // host's Postgres and Kafka (make infra-up): one release for the whole tier, installed
          // by the global setup; files one at a time, since each moves traffic and consumers.
          name: 'node',
          include: ['deploy/node/test/**/*.node.test.ts'],
          globalSetup: ['deploy/node/test/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
