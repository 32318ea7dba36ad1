// Reads a V8 CPU profile (node --cpu-prof) and says where the busy time went:
// the functions with the most self time, and the same summed by package, over
// the samples after `skipSeconds` (start-up: loading and compiling modules).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Busy (non-idle) milliseconds in the window. */
  busyMs: number;
  functions: { name: string; percent: number }[];
  packages: { name: string; percent: number }[];
}

const IDLE = new Set(['(idle)', '(program)']);

function packageOf(url: string, functionName: string): string {
  const module = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1]!;
  const own = /\/(services|packages|tools|bench)\/([^/]+)\//.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  if (url.startsWith('node:') || url === '') return functionName === '(garbage collector)' ? 'GC' : 'node';
  return url;
}

export function summarizeProfile(file: string, skipSeconds = 0, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let elapsed = 0;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    elapsed += delta;
    if (elapsed < skipSeconds * 1e6) continue;
    const frame = nodes.get(profile.samples[i]!)?.callFrame;
    if (!frame || IDLE.has(frame.functionName)) continue;
    busy += delta;
    const where = frame.url
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\/.*?\/(services|packages|tools|bench)\//, '$1/');
    const name = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    const pkg = packageOf(frame.url, frame.functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
  }
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => ({ name, percent: Math.round((time / Math.max(1, busy)) * 1000) / 10 }));
  return { file, busyMs: Math.round(busy / 1000), functions: rank(byFunction), packages: rank(byPackage) };
}

/** The main thread's profile in a --cpu-prof-dir (thread id 0; the module loader's thread writes its own). */
export function mainProfileIn(dir: string): string | undefined {
  try {
    const main = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    return main.length > 0 ? join(dir, main.sort().at(-1)!) : undefined;
  } catch {
    return undefined;
  }
}
