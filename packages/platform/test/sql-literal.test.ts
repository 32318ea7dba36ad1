import { describe, expect, it } from 'vitest';
import { sqlLiteral } from '../src/database.js';

describe('sqlLiteral', () => {
  it('quotes strings so that quotes and backslashes stay text, and writes arrays and integers', () => {
    expect(sqlLiteral("o'brien")).toBe("'o''brien'");
    expect(sqlLiteral('a\\b')).toBe(" E'a\\\\b'");
    expect(sqlLiteral(['x', "it's"])).toBe("ARRAY['x','it''s']");
    expect(sqlLiteral([1n, 2n])).toBe('ARRAY[1,2]');
    expect(sqlLiteral(500)).toBe('500');
    expect(sqlLiteral([])).toBe('ARRAY[]');
  });

  it('refuses a number that is not an integer, which SQL text could not hold exactly', () => {
    expect(() => sqlLiteral(1.5)).toThrow(/not an integer/);
    expect(() => sqlLiteral(Number.NaN)).toThrow(/not an integer/);
  });
});
