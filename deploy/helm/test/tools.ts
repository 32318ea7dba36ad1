// The binaries of the local control plane (helm, kubectl, kube-score from
// ~/.cache/shop/k8s/versions.env, built by `make k8s-tools`) and small typed
// wrappers around them. Every call goes to the API server on 127.0.0.1 through
// kubectl or helm; nothing here connects to a pod, node or Service address.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const chartDir = join(repoRoot, 'deploy/helm/shop');
export const kubeconfig = process.env.KUBECONFIG_SHOP ?? join(repoRoot, '.run/k8s/kubeconfig');

const cacheDir = process.env.SHOP_CACHE_DIR ?? join(homedir(), '.cache/shop');
export const versionsFile = join(cacheDir, 'k8s/versions.env');

/** HELM, KUBECTL, KUBE_SCORE, ... from versions.env; throws a message that says what to run. */
export function loadVersions(): Record<string, string> {
  if (!existsSync(versionsFile)) {
    throw new Error(`${versionsFile} is missing: build the Kubernetes binaries with \`make k8s-tools\``);
  }
  const vars: Record<string, string> = {};
  for (const line of readFileSync(versionsFile, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) vars[match[1]] = match[2].replace(/^["']|["']$/g, '');
  }
  for (const name of ['HELM', 'KUBECTL', 'KUBE_SCORE']) {
    const path = vars[name];
    if (!path || !existsSync(path))
      throw new Error(
        `${name} (${path ?? 'unset'}) from ${versionsFile} does not exist: run \`make k8s-tools\``,
      );
  }
  return vars;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never throws on a non-zero exit (see `ok`). */
export function run(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, KUBECONFIG: kubeconfig, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs and throws with the command line and its stderr when it fails. */
export async function ok(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command.split('/').pop()} ${args.join(' ')} exited ${result.code}:\n${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    generation?: number;
    ownerReferences?: { kind: string; name: string }[];
  };
  // biome-ignore lint/suspicious/noExplicitAny: the shapes of spec and status vary by kind
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  status?: any;
  // biome-ignore lint/suspicious/noExplicitAny: Secrets, ConfigMaps, EndpointSlices
  [key: string]: any;
}

export class Cluster {
  constructor(readonly tools: Record<string, string>) {}

  kubectl(args: string[], input?: string): Promise<string> {
    return ok(this.tools.KUBECTL as string, args, input === undefined ? {} : { input });
  }

  helm(args: string[], timeoutMs = 360_000): Promise<string> {
    return ok(this.tools.HELM as string, args, { timeoutMs });
  }

  helmResult(args: string[]): Promise<Result> {
    return run(this.tools.HELM as string, args);
  }

  async get<T = KubeObject>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl(['get', ...args, '-o', 'json'])) as T;
  }

  async list(resource: string, namespace: string, selector?: string): Promise<KubeObject[]> {
    const args = [resource, '-n', namespace, ...(selector ? ['-l', selector] : [])];
    return (await this.get<{ items: KubeObject[] }>(args)).items;
  }

  /** Several kinds in one call (`kubectl get a,b,c`), keyed "Kind/name". */
  async objects(kinds: string, namespace: string): Promise<Map<string, KubeObject>> {
    const items = (await this.get<{ items: KubeObject[] }>([kinds, '-n', namespace])).items;
    return new Map(items.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  }

  /**
   * Streams watch events of one collection from a resourceVersion on (kubectl get
   * --raw ...?watch=1: one JSON event per line) until stop() is called. A watch the API
   * server ends (an ERROR event, or the stream closing) is resumed from the last
   * resourceVersion seen: under load the server's watch cache can lag behind a
   * resourceVersion just read, and it answers such a watch with an ERROR after 3 s
   * ("Too large resource version"), which silently lost events before. If the version
   * has expired (410), the watch restarts from now, and the current objects arrive as
   * ADDED events.
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: { type: string; object: KubeObject }) => void,
  ): { stop: () => void } {
    let stopped = false;
    let child: ChildProcess | undefined;
    let rv = resourceVersion;
    const start = () => {
      const query = `watch=1&allowWatchBookmarks=false&timeoutSeconds=900${rv ? `&resourceVersion=${rv}` : ''}`;
      const current: ChildProcess = spawn(
        this.tools.KUBECTL as string,
        ['get', '--raw', `${path}?${query}`],
        {
          env: { ...process.env, KUBECONFIG: kubeconfig },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      child = current;
      let buffer = '';
      current.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (!line) continue;
          const event = JSON.parse(line) as {
            type: string;
            object: KubeObject & { code?: number; message?: string };
          };
          if (event.type === 'ERROR') {
            process.stderr.write(
              `watch ${path}: ${event.object.message ?? JSON.stringify(event.object)}; resuming\n`,
            );
            if (event.object.code === 410) rv = '';
            continue;
          }
          rv = event.object.metadata.resourceVersion ?? rv;
          onEvent(event);
        }
      });
      current.on('close', () => {
        if (!stopped && child === current) setTimeout(() => !stopped && start(), 200);
      });
    };
    start();
    return {
      stop: () => {
        stopped = true;
        child?.kill('SIGTERM');
      },
    };
  }
}

/** Polls until check() returns a value (not undefined) or the deadline passes; then throws what it last saw. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 500 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
