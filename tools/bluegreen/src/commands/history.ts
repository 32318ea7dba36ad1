// bluegreen history <service>: past cutovers, newest first, from the ConfigMap.
import { ExitCode } from '../errors.js';
import { readHistory } from '../history.js';
import type { Kube } from '../kube.js';
import { objectNames, type Target } from '../names.js';
import type { Outcome } from './common.js';

export async function history(kube: Kube, target: Target, limit: number): Promise<Outcome> {
  const names = objectNames(target);
  const entries = (await readHistory(kube.core, target, names)).slice(0, limit);
  const rows = [['WHEN', 'BY', 'ACTION', 'FROM -> TO', 'IMAGES (blue / green)', 'RESULT']];
  for (const e of entries) {
    rows.push([
      e.at,
      e.by,
      e.action ?? '',
      `${e.from} -> ${e.to}`,
      `${e.images?.blue ?? '-'} / ${e.images?.green ?? '-'}`,
      e.result + (e.message && e.result !== 'succeeded' ? `: ${e.message}` : ''),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text =
    entries.length === 0
      ? [`no cutovers recorded for ${target.service} (ConfigMap ${names.history})`]
      : rows.map((row) =>
          row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
        );
  return {
    exitCode: ExitCode.ok,
    data: {
      service: target.service,
      namespace: target.namespace,
      release: target.release,
      configMap: names.history,
      history: entries,
    },
    text,
  };
}
