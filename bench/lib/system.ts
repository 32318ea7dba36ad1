// The machine: the Debian tools the benchmarks drive (installed on first use,
// like scripts/bootstrap.sh does), what the machine is and how busy it was, and
// the memory of a process as the kernel counts it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function installed(pkg: string): Promise<boolean> {
  try {
    const { stdout } = await run('dpkg', ['--status', pkg]);
    return /^Status: install ok installed$/m.test(stdout);
  } catch {
    return false;
  }
}

/** Installs the Debian packages that are missing (nginx, pgbench, ...); a second run costs a dpkg query each. */
export async function ensureDebianPackages(packages: string[], say: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const pkg of packages) if (!(await installed(pkg))) missing.push(pkg);
  if (missing.length === 0) return;
  say(`installing Debian packages: ${missing.join(', ')}`);
  const root = process.getuid?.() === 0 ? [] : ['sudo'];
  const apt = (...args: string[]) => {
    const [command, ...rest] = [...root, 'apt-get', '-o', 'DPkg::Lock::Timeout=600', '-q', ...args];
    return run(command!, rest, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 64 * 1024 * 1024,
    });
  };
  // Lists may be missing on a fresh machine; the lists lock can be busy with other apt runs.
  for (let attempt = 0; ; attempt++) {
    try {
      await apt('update');
      break;
    } catch (error) {
      if (attempt >= 30 || !String((error as Error).message).includes('Could not get lock')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    }
  }
  await apt('install', '-y', '--no-install-recommends', ...missing);
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  loadavg: number[];
}

export function machine(): Machine {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Resident memory now and its peak since start (or since `resetPeak`), in MiB; undefined once the process is gone. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (writing 5 to clear_refs), so the next peak is the load's alone. */
export function resetPeak(pid: number): boolean {
  const file = `/proc/${pid}/clear_refs`;
  if (!existsSync(file)) return false;
  try {
    writeFileSync(file, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return Number.NaN;
  }
}
