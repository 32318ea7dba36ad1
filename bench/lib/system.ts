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

/** The machine's CPU time counters (all cores) from /proc/stat, in clock ticks. */
export interface CpuTimes {
  total: number;
  idle: number;
  steal: number;
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((f) => !Number.isFinite(f))) return undefined;
    const [, , , idle = 0, iowait = 0, , , steal = 0] = fields;
    return { total: fields.reduce((a, b) => a + b, 0), idle: idle + iowait, steal };
  } catch {
    return undefined;
  }
}

/**
 * Between two readings: the share of the CPUs' time the hypervisor gave to
 * other guests (steal) and the share left idle. On a shared virtual machine a
 * high steal means every process here ran slower than the code would on its
 * own cores, whatever this machine's load average says.
 */
export function cpuShares(before: CpuTimes | undefined, after: CpuTimes | undefined) {
  if (!before || !after || after.total <= before.total) return undefined;
  const span = after.total - before.total;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    steal: round((after.steal - before.steal) / span),
    idle: round((after.idle - before.idle) / span),
  };
}
