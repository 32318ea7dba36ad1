// Which color consumes from Kafka (docs/bluegreen-conventions.md, "Consumers follow
// the active color"). Each pod of a consuming service keeps one key in the ConfigMap
// <release>-<service>-consumers: its color, whether it consumes, since when. A pod
// killed without stopping leaves its key behind, so only keys of pods that still
// exist count.
import { COLORS, type Color, isColor } from './names.js';

export interface ConsumerEntry {
  pod: string;
  color: Color;
  consuming: boolean;
  since: string;
}

export interface ConsumersView {
  /** The color whose pods consume; "both" during a handover; "none" when no pod does. */
  consuming: Color | 'both' | 'none';
  /** Per color: pods that report, and how many of them consume. */
  colors: Record<Color, { reported: number; consuming: number }>;
  pods: ConsumerEntry[];
}

/** Parses the ConfigMap's entries; unreadable ones are left out. */
export function consumerEntries(data: Record<string, string> | undefined): ConsumerEntry[] {
  const entries: ConsumerEntry[] = [];
  for (const [pod, text] of Object.entries(data ?? {})) {
    try {
      const value = JSON.parse(text) as { color?: unknown; consuming?: unknown; since?: unknown };
      if (isColor(value.color) && typeof value.consuming === 'boolean') {
        entries.push({
          pod,
          color: value.color,
          consuming: value.consuming,
          since: String(value.since ?? ''),
        });
      }
    } catch {
      // Not written by a pod of ours.
    }
  }
  return entries.sort((a, b) => a.pod.localeCompare(b.pod));
}

/** The view over the pods that exist now, or undefined when no pod reports (nothing is gated). */
export function consumersView(
  entries: ConsumerEntry[],
  livePods: ReadonlySet<string>,
): ConsumersView | undefined {
  const pods = entries.filter((entry) => livePods.has(entry.pod));
  if (pods.length === 0) return undefined;
  const colors = Object.fromEntries(
    COLORS.map((color) => {
      const of = pods.filter((p) => p.color === color);
      return [color, { reported: of.length, consuming: of.filter((p) => p.consuming).length }];
    }),
  ) as ConsumersView['colors'];
  const consumingColors = COLORS.filter((color) => colors[color].consuming > 0);
  const consuming = consumingColors.length === 2 ? 'both' : (consumingColors[0] ?? 'none');
  return { consuming, colors, pods };
}
