// Postgres cannot store U+0000 in text ("invalid byte sequence for encoding
// UTF8: 0x00"), so a NUL anywhere in a request would reach a query and fail
// there as a 500 after validation had passed. The same goes for a lone UTF-16
// surrogate (`"\ud800"` is valid JSON but no character at all: Prisma's engine
// refuses the query, node-postgres would store U+FFFD instead). No field of
// this API has a use for either: every service refuses them up front, as the
// client's mistake, with the path of each field that holds one.
import type { FieldError } from './problems.js';

const NUL = '\u0000';
const MESSAGE = 'must not contain the NUL character (U+0000)';
const SURROGATE_MESSAGE = 'must be well-formed Unicode (it holds a lone surrogate)';

/** Text no service can store: a NUL, or a lone surrogate. */
const unstorable = (text: string) => text.includes(NUL) || !text.isWellFormed();

function problemOf(text: string): string {
  return text.includes(NUL) ? MESSAGE : SURROGATE_MESSAGE;
}
/** Enough to name the culprits; a hostile body may hold thousands. */
const MAX_REPORTED = 10;

/**
 * The fields of `value` (a parsed body, query or params) whose string, or key,
 * contains U+0000 or a lone surrogate, as paths under `location` (`body.items.0.name`). Iterative,
 * so a deeply nested body cannot overflow the stack.
 */
export function nulFields(value: unknown, location: string): FieldError[] {
  // Every request passes here and nearly none holds such text: look first, name the paths only then.
  if (!containsNul(value)) return [];
  const found: FieldError[] = [];
  // Depth first, children pushed last to first so fields are reported in document order.
  const pending: { value: unknown; path: string; badKey?: string }[] = [{ value, path: location }];
  while (pending.length > 0 && found.length < MAX_REPORTED) {
    const { value: current, path, badKey } = pending.pop()!;
    if (badKey !== undefined) found.push({ path, message: `its name ${problemOf(badKey)}` });
    if (typeof current === 'string') {
      if (unstorable(current)) found.push({ path, message: problemOf(current) });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        pending.push({ value: current[i], path: `${path}.${i}` });
      }
    } else if (current !== null && typeof current === 'object' && !ArrayBuffer.isView(current)) {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        pending.push({
          value: (current as Record<string, unknown>)[key],
          path: `${path}.${key.replaceAll(NUL, '\\u0000').toWellFormed()}`,
          ...(unstorable(key) ? { badKey: key } : {}),
        });
      }
    }
  }
  return found;
}

/** Whether any string or key under `value` is unstorable; allocates nothing per field. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return unstorable(value);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  const pending: object[] = [value];
  while (pending.length > 0) {
    const current = pending.pop() as Record<string, unknown>;
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      if (unstorable(key)) return true;
      const child = current[key];
      if (typeof child === 'string') {
        if (unstorable(child)) return true;
      } else if (child !== null && typeof child === 'object' && !ArrayBuffer.isView(child)) {
        pending.push(child);
      }
    }
  }
  return false;
}
