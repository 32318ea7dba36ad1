import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../src/domain/cursor.js';

describe('page cursor', () => {
  it('round-trips a position to the millisecond', () => {
    const position = {
      createdAt: new Date('2026-03-04T05:06:07.089Z'),
      id: '00000000-0000-4000-8000-000000000001',
    };
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[\w-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('refuses anything it did not hand out', () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(decodeCursor('garbage')).toBeUndefined();
    expect(decodeCursor('')).toBeUndefined();
    expect(decodeCursor(encode(['not a date', '00000000-0000-4000-8000-000000000001']))).toBeUndefined();
    expect(decodeCursor(encode(['2026-03-04T05:06:07.089Z', 'not-a-uuid']))).toBeUndefined();
    expect(decodeCursor(encode({ createdAt: '2026-03-04T05:06:07.089Z' }))).toBeUndefined();
  });
});
