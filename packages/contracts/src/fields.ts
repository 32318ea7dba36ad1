// Fields whose published JSON Schema says exactly what their validation
// enforces, declared once for an HTTP API and the messages its requests become.
// zod's own `.min()`/`.max()` count UTF-16 code units while JSON Schema's
// `minLength`/`maxLength` count characters (code points), so an emoji is 2 to
// one and 1 to the other; `.trim()` accepts a blank string that `minLength: 1`
// does not refuse. These helpers check what the schema they publish says.
import { z } from 'zod';

/** Any UUID as Postgres reads one (hex, any version), for patterns of composite values. */
export const UUID_PATTERN = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** Characters, as JSON Schema counts them (a surrogate pair is one). */
export function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

// Exactly what String.prototype.trim removes (ECMA-262 WhiteSpace and
// LineTerminator), spelled out: `\s` differs between regex dialects (Python's
// counts U+001C-U+001F, JavaScript's U+FEFF), and a fuzzer reads the pattern
// in its own.
const TRIMMED = String.raw`\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;
const NOT_BLANK = new RegExp(`[^${TRIMMED}]`);
// Postgres cannot store U+0000 in text, so no field takes it, and the schema says so.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing that control character is the point.
const NO_NUL = /^[^\u0000]*$/;

/** A string of `min` to `max` characters (code points), without U+0000. */
export function text({ min = 0, max }: { min?: number; max: number }) {
  let schema = z
    .string()
    .regex(NO_NUL, 'must not contain the NUL character (U+0000)')
    .refine((value) => codePoints(value) <= max, `must be at most ${max} characters`);
  if (min > 0) {
    schema = schema.refine((value) => codePoints(value) >= min, `must be at least ${min} characters`);
  }
  return schema.meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });
}

/**
 * A name-like string: at most `max` characters as sent, not blank, and
 * handed to the handler trimmed.
 */
export function trimmedText({ max }: { max: number }) {
  return text({ max })
    .regex(NOT_BLANK, 'must not be blank')
    .overwrite((value) => value.trim());
}

/**
 * A change of some of `fields`, at least one: strict (an unknown field is
 * refused rather than dropped, so `{ "nmae": "x" }` is not an empty change) and
 * published as `additionalProperties: false, minProperties: 1`.
 */
export function partialChange<Shape extends z.ZodRawShape>(fields: Shape) {
  return z
    .strictObject(fields)
    .partial()
    .refine((change) => Object.keys(change).length > 0, 'name at least one field to change')
    .meta({ minProperties: 1 });
}
