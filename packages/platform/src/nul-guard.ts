// Postgres cannot store U+0000 in text ("invalid byte sequence for encoding
// UTF8: 0x00"), so a NUL anywhere in a request would reach a query and fail
// there as a 500 after validation had passed. No field of this API has a use
// for it: every service refuses it up front, as the client's mistake, with
// the path of each field that holds one.
import type { FieldError } from './problems.js';

const NUL = '\u0000';
const MESSAGE = 'must not contain the NUL character (U+0000)';
/** Enough to name the culprits; a hostile body may hold thousands. */
const MAX_REPORTED = 10;

/**
 * The fields of `value` (a parsed body, query or params) whose string, or key,
 * contains U+0000, as paths under `location` (`body.items.0.name`). Iterative,
 * so a deeply nested body cannot overflow the stack.
 */
export function nulFields(value: unknown, location: string): FieldError[] {
  // Every request passes here and nearly none holds a NUL: look first, name the paths only then.
  if (!containsNul(value)) return [];
  const found: FieldError[] = [];
  // Depth first, children pushed last to first so fields are reported in document order.
  const pending: { value: unknown; path: string; nulInKey: boolean }[] = [
    { value, path: location, nulInKey: false },
  ];
  while (pending.length > 0 && found.length < MAX_REPORTED) {
    const { value: current, path, nulInKey } = pending.pop()!;
    if (nulInKey) found.push({ path, message: `its name ${MESSAGE}` });
    if (typeof current === 'string') {
      if (current.includes(NUL)) found.push({ path, message: MESSAGE });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        pending.push({ value: current[i], path: `${path}.${i}`, nulInKey: false });
      }
    } else if (current !== null && typeof current === 'object' && !ArrayBuffer.isView(current)) {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        pending.push({
          value: (current as Record<string, unknown>)[key],
          path: `${path}.${key.replaceAll(NUL, '\\u0000')}`,
          nulInKey: key.includes(NUL),
        });
      }
    }
  }
  return found;
}

/** Whether any string or key under `value` contains U+0000; allocates nothing per field. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(NUL);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  const pending: object[] = [value];
  while (pending.length > 0) {
    const current = pending.pop() as Record<string, unknown>;
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      if (key.includes(NUL)) return true;
      const child = current[key];
      if (typeof child === 'string') {
        if (child.includes(NUL)) return true;
      } else if (child !== null && typeof child === 'object' && !ArrayBuffer.isView(child)) {
        pending.push(child);
      }
    }
  }
  return false;
}
