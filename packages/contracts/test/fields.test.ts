// The field helpers publish exactly what they check: a string is valid by the
// published JSON Schema (lengths in characters, every pattern) exactly when
// zod accepts it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { codePoints, partialChange, text, trimmedText } from '../src/fields.js';

interface StringSchema {
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  allOf?: { pattern: string }[];
}

/** What a JSON Schema validator says of `value` against a published string schema. */
function validByPublished(schema: StringSchema, value: string): boolean {
  const length = codePoints(value);
  if (schema.minLength !== undefined && length < schema.minLength) return false;
  if (schema.maxLength !== undefined && length > schema.maxLength) return false;
  const patterns = [schema.pattern, ...(schema.allOf ?? []).map((part) => part.pattern)].filter(
    (pattern): pattern is string => pattern !== undefined,
  );
  return patterns.every((pattern) => new RegExp(pattern, 'u').test(value));
}

const published = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input' }) as StringSchema;

// Astral characters, whitespace of every kind, NUL: what tells the two countings and trims apart.
const tricky = fc.string({
  unit: fc.oneof(
    fc.constantFrom(' ', '\t', '\n', '\u00a0', '\u2028', '\ufeff', '\u001c', '\u0000', '😀', 'é'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 12,
});

describe('field helpers', () => {
  for (const [name, schema] of [
    ['text({ max: 5 })', text({ max: 5 })],
    ['text({ min: 2, max: 5 })', text({ min: 2, max: 5 })],
    ['trimmedText({ max: 5 })', trimmedText({ max: 5 })],
  ] as const) {
    it(`${name} accepts exactly what its published schema allows`, () => {
      const json = published(schema);
      fc.assert(
        fc.property(tricky, (value) => {
          expect(schema.safeParse(value).success, JSON.stringify(value)).toBe(validByPublished(json, value));
        }),
        { numRuns: 2000 },
      );
    });
  }

  it('counts characters, not UTF-16 units, and trims what it accepts', () => {
    expect(text({ max: 2 }).safeParse('😀😀').success).toBe(true);
    expect(text({ max: 2 }).safeParse('😀😀😀').success).toBe(false);
    expect(trimmedText({ max: 10 }).parse('  Ann  ')).toBe('Ann');
    expect(trimmedText({ max: 10 }).safeParse(' \u00a0\ufeff ').success).toBe(false);
    expect(text({ max: 10 }).safeParse('a\u0000b').success).toBe(false);
  });

  it('publishes a partial change as strict, with at least one property', () => {
    const change = partialChange({ name: text({ max: 10 }), price: z.int() });
    expect(z.toJSONSchema(change, { io: 'input' })).toMatchObject({
      additionalProperties: false,
      minProperties: 1,
    });
    expect(change.safeParse({}).success).toBe(false);
    expect(change.safeParse({ nmae: 'x' }).success).toBe(false);
    expect(change.parse({ price: 3 })).toEqual({ price: 3 });
  });
});
