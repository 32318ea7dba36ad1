// bluegreen status [service...]: where traffic goes, what each color runs and
// whether it could take traffic, who holds the lock, the last cutover.
import { ExitCode } from '../errors.js';
import type { Kube } from '../kube.js';
import { lastCutoverOf } from '../model.js';
import { COLOR_LABEL, COLORS, ROLE_LABEL, type Target } from '../names.js';
import { observeConsumers, observeService } from '../observe.js';
import { lockView } from '../plan.js';
import type { Outcome } from './common.js';

export async function status(kube: Kube, targets: Target[]): Promise<Outcome> {
  const now = new Date();
  const services = await Promise.all(
    targets.map(async (target) => {
      const [state, consumers] = await Promise.all([
        observeService(kube, target, { readiness: true }),
        observeConsumers(kube, target),
      ]);
      const colors = Object.fromEntries(
        COLORS.map((color) => {
          const d = state.deployments[color];
          const r = state.readiness[color];
          return [
            color,
            {
              deployment: state.names.deployments[color],
              exists: d !== undefined,
              image: d?.image ?? null,
              replicas: d?.replicas ?? 0,
              readyReplicas: d?.readyReplicas ?? 0,
              availableReplicas: d?.availableReplicas ?? 0,
              updatedReplicas: d?.updatedReplicas ?? 0,
              state: r?.state ?? 'missing',
              summary: r?.summary ?? 'Deployment not found',
            },
          ];
        }),
      );
      const lock = lockView(state.lease, '', now);
      return {
        service: target.service,
        namespace: target.namespace,
        release: target.release,
        activeService: state.names.activeService,
        previewService: state.names.previewService,
        activeColor: state.activeService?.selector[COLOR_LABEL] ?? null,
        previewColor: state.previewService?.selector[COLOR_LABEL] ?? null,
        colors,
        lock: lock.state === 'free' ? null : lock,
        lastCutover: lastCutoverOf(state.activeService) ?? null,
        consumers: consumers ?? null,
      };
    }),
  );
  const text: string[] = [];
  for (const s of services) {
    if (text.length > 0) text.push('');
    text.push(`${s.service}  (release ${s.release}, namespace ${s.namespace})`);
    text.push(
      `  traffic: ${s.activeService} -> ${s.activeColor ?? '?'}    preview: ${s.previewService} -> ${s.previewColor ?? '?'}`,
    );
    const rows = [['', 'COLOR', 'IMAGE', 'DESIRED', 'READY', 'AVAILABLE', 'STATE']];
    for (const color of COLORS) {
      const c = s.colors[color]!;
      const role = s.activeColor === color ? 'active' : s.previewColor === color ? 'preview' : '';
      rows.push([
        role === 'active' ? '*' : ' ',
        `${color}${role ? ` (${role})` : ''}`,
        c.image ?? '-',
        String(c.replicas),
        String(c.readyReplicas),
        String(c.availableReplicas),
        c.state === 'ready' ? 'ready' : `${c.state}: ${c.summary}`,
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const row of rows)
      text.push(
        `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd(),
      );
    text.push(
      `  lock: ${
        s.lock
          ? s.lock.state === 'held'
            ? `held by ${s.lock.holder} until ${s.lock.expiresAt}${s.lock.operation ? ` (${s.lock.operation})` : ''}`
            : `expired (left by ${s.lock.holder}; the next command takes it over)`
          : 'free'
      }`,
    );
    const c = s.consumers;
    text.push(
      `  consumers: ${
        c
          ? `${c.consuming === 'both' ? 'both colors (handing over)' : c.consuming}    ${COLORS.map(
              (color) => `${color} ${c.colors[color].consuming}/${c.colors[color].reported} pods consuming`,
            ).join(', ')}`
          : 'no pod reports (a service without consumer groups, or consumers not following the active color)'
      }`,
    );
    const last = s.lastCutover;
    text.push(
      `  last cutover: ${
        last
          ? `${last.from} -> ${last.to} at ${last.at} by ${last.by}${last.action ? ` (${last.action})` : ''}: ${last.result}`
          : 'none recorded'
      }`,
    );
  }
  if (services.length === 0) {
    text.push(
      `no blue-green services in namespace ${kube.namespace} (none of its Services is labelled ${ROLE_LABEL}=active); pick the release's namespace with -n`,
    );
  }
  return { exitCode: ExitCode.ok, data: { services }, text };
}
