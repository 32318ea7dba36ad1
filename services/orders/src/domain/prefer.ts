// The `Prefer` request header (RFC 7240), reduced to what orders honours: `wait`.

/** The wait a client asked for with `Prefer: wait=N` (delta-seconds), in milliseconds; 0 when none. */
export function waitPreference(header: string | undefined): number {
  if (!header) return 0;
  for (const preference of header.split(',')) {
    const match = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*(;.*)?$/i.exec(preference);
    if (match) return Number(match[1]) * 1000;
  }
  return 0;
}
