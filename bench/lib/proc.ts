// The processes a benchmark starts: each in its own process group (so stopping
// it stops its children too, as nginx's workers), optionally pinned to CPUs,
// logging to a file, and always stopped by its own pid, never by name.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr go here (appended). */
  logFile: string;
  /** `taskset -c` list, e.g. "0". */
  cpus?: string;
}

const running = new Set<Started>();

export function startProcess(options: StartOptions): Started {
  mkdirSync(dirname(options.logFile), { recursive: true });
  // The child writes its log file itself, as a container runtime's log driver
  // would take it: through a pipe drained by this process (which shares a CPU
  // with the load generator) a busy server would wait on the pipe.
  const log = openSync(options.logFile, 'a');
  const [command, args] = options.cpus
    ? ['taskset', ['-c', options.cpus, options.command, ...options.args]]
    : [options.command, options.args];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (child.pid === undefined) throw new Error(`${options.name} did not start`);
  const pid = child.pid;
  const started: Started = {
    name: options.name,
    pid,
    child,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(started);
    },
  };
  running.add(started);
  return started;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Stops whatever this run started and has not stopped yet (on failure or Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(5000)));
}

/** The pids of a process group (a process and the children it forked, like nginx's workers). */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Pins every thread of every process in the group to the CPUs (`taskset -a -p -c`). */
export async function pinGroup(pgid: number, cpus: string): Promise<void> {
  for (const pid of groupPids(pgid)) {
    await run('taskset', ['-a', '-p', '-c', cpus, String(pid)]).catch(() => undefined);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until `url` answers with `status` (any 2xx when not given), failing early if `process` exits. */
export async function waitForHttp(
  url: string,
  {
    timeoutMs = 300_000,
    process: child,
    status,
  }: { timeoutMs?: number; process?: Started; status?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child && (child.child.exitCode !== null || child.child.signalCode !== null)) {
      throw new Error(`${child.name} exited before ${url} answered`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (status === undefined ? response.ok : response.status === status) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})`);
}

export async function sh(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const { stdout, stderr } = await run(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout, stderr };
}
