// Names, labels and annotations from docs/bluegreen-conventions.md: the contract
// with the Helm chart. Everything the CLI reads or writes is named here.

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];

export const COLOR_LABEL = 'shop.example/color';
export const ROLE_LABEL = 'shop.example/bluegreen';
export const NAME_LABEL = 'app.kubernetes.io/name';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export const LAST_CUTOVER_ANNOTATION = 'shop.example/last-cutover';
/** On the Lease: another process asks the holder to stop (`bluegreen abort`). */
export const ABORT_ANNOTATION = 'shop.example/bluegreen-abort';
/** On the Lease: what the holder is doing, for the "lock held" message. */
export const OPERATION_ANNOTATION = 'shop.example/bluegreen-operation';
export const HISTORY_KEY = 'history.json';
export const HISTORY_LIMIT = 50;

export function isColor(value: unknown): value is Color {
  return value === 'blue' || value === 'green';
}

export function otherColor(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue';
}

/** One blue-green service of one Helm release in one namespace. */
export interface Target {
  namespace: string;
  release: string;
  service: string;
}

export interface ObjectNames {
  deployments: Record<Color, string>;
  activeService: string;
  previewService: string;
  lease: string;
  history: string;
  /** Where each pod of a consuming service says whether it consumes (one key per pod). */
  consumers: string;
}

export function objectNames({ release, service }: Target): ObjectNames {
  const base = `${release}-${service}`;
  return {
    deployments: { blue: `${base}-blue`, green: `${base}-green` },
    activeService: base,
    previewService: `${base}-preview`,
    lease: `${base}-bluegreen`,
    history: `${base}-bluegreen-history`,
    consumers: `${base}-consumers`,
  };
}

/** The labels every pod of one color carries: what its Deployment and the Services select on. */
export function colorSelector(target: Target, color: Color): Record<string, string> {
  return { [NAME_LABEL]: target.service, [INSTANCE_LABEL]: target.release, [COLOR_LABEL]: color };
}

export function labelSelectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** A JSON Pointer segment (RFC 6901): `shop.example/color` becomes `shop.example~1color`. */
export function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
