// `make dev`'s runner (packages/stack/src/cli.ts, watch mode, exactly as
// scripts/dev.sh starts it) killed with SIGKILL: its services must exit with
// it, however it died, so the ports are free and a second runner starts.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createServiceDatabase, repoRoot, type TestDatabase, uniquePrefix } from '@shop/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DatabaseService, databaseServices, defaultPorts, SERVICE_NODE_FLAGS } from '../src/index.js';

let databases: TestDatabase[] = [];
const runners: ChildProcess[] = [];

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const offsets = Object.values(defaultPorts).map((port) => port - defaultPorts.gateway);

/** A base port whose whole set (the default ports, moved) is free. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the ephemeral range (32768-60999): an outgoing connection's local port there would
    // make a listen fail although nothing accepts on it.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const open = await Promise.all(offsets.map((offset) => portOpen(base + offset)));
    if (!open.some(Boolean)) return base;
  }
  throw new Error('no free set of ports found');
}

async function openPorts(base: number): Promise<number[]> {
  const ports = offsets.map((offset) => base + offset);
  const open = await Promise.all(ports.map(portOpen));
  return ports.filter((_, i) => open[i]);
}

function startRunner(env: Record<string, string>): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/stack/src/cli.ts'],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  runners.push(child);
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in time:\n${output.slice(-3000)}`)), 240_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (/ready in [\d.]+ s/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the runner exited (${code ?? signal}) before it was ready:\n${output.slice(-3000)}`));
    });
  });
  return { child, ready };
}

/** The command lines of the processes started for one service of the runner on `port`. */
function serviceCommandLines(name: string, port: number): string[][] {
  const found: string[][] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(`SERVICE_NAME=${name}`) && environ.includes(`PORT=${port}`)) {
        found.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

beforeAll(async () => {
  databases = await Promise.all(databaseServices.map((service) => createServiceDatabase(service)));
});
afterAll(async () => {
  for (const runner of runners)
    if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
  await Promise.all(databases.map((db) => db.drop().catch(() => undefined)));
});

it('leaves nothing running when its runner is killed with SIGKILL, so the next one starts', async () => {
  const base = await freeBase();
  const env: Record<string, string> = {
    SHOP_DEV_PORT_BASE: String(base),
    KAFKA_TOPIC_PREFIX: uniquePrefix('dev-runner'),
    LOG_LEVEL: 'warn',
    ...Object.fromEntries(
      databaseServices.map((service: DatabaseService, i) => [
        `${service.toUpperCase()}_DATABASE_URL`,
        databases[i]!.url,
      ]),
    ),
  };

  const first = startRunner(env);
  await first.ready;
  expect(await openPorts(base)).toHaveLength(offsets.length);
  // tsx watch restarts the service as a child of its own: the service's node flags must reach
  // that child (SERVICE_NODE_FLAGS), not only the watcher.
  const gateway = serviceCommandLines('gateway', base).filter(
    (args) => !args.some((a) => a.endsWith('cli.mjs')),
  );
  expect(gateway, 'the gateway process under tsx watch').toHaveLength(1);
  expect(gateway[0]).toEqual(expect.arrayContaining([...(SERVICE_NODE_FLAGS.gateway ?? [])]));
  expect(SERVICE_NODE_FLAGS.gateway?.length).toBeGreaterThan(0);

  first.child.kill('SIGKILL');
  // Each service is told to stop by the kernel, and stops gracefully.
  const deadline = Date.now() + 30_000;
  let open = await openPorts(base);
  while (open.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    open = await openPorts(base);
  }
  expect(open, 'ports still held after the runner died').toEqual([]);

  const second = startRunner(env);
  await second.ready;
  second.child.kill('SIGTERM');
  const code = await new Promise((resolve) => second.child.on('exit', (exitCode) => resolve(exitCode)));
  expect(code).toBe(0);
  expect(await openPorts(base)).toEqual([]);
}, 600_000);
