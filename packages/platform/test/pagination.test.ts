import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeCursor, encodeCursor, Problem, pageArgs, pageQuery, toPage } from '../src/index.js';

const position = {
  createdAt: new Date('2026-03-04T05:06:07.089Z'),
  id: '00000000-0000-4000-8000-000000000001',
};

describe('page cursor', () => {
  it('round-trips a position to the millisecond', () => {
    const cursor = encodeCursor(position);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('refuses anything not of its shape', () => {
    expect(decodeCursor('garbage')).toBeUndefined();
    expect(decodeCursor('')).toBeUndefined();
    expect(decodeCursor(`x_${position.id}`)).toBeUndefined();
    expect(decodeCursor('1_not-a-uuid')).toBeUndefined();
    expect(decodeCursor(`${'9'.repeat(14)}_${position.id}`)).toBeUndefined();
  });

  it('reads every string its published pattern admits as a position (so none is refused later)', () => {
    const pattern = new RegExp(
      (
        z.toJSONSchema(pageQuery, { io: 'input' }) as unknown as {
          properties: { cursor: { pattern: string } };
        }
      ).properties.cursor.pattern,
    );
    fc.assert(
      fc.property(fc.stringMatching(pattern), (cursor) => {
        const decoded = decodeCursor(cursor);
        expect(decoded).toBeDefined();
        expect(decoded!.createdAt.toISOString()).toMatch(/^\d{4}-/);
      }),
    );
  });
});

describe('pageArgs', () => {
  it('starts at the beginning without a cursor and asks for one row more than the limit', () => {
    expect(pageArgs({ limit: 5 }, 'newest-first')).toEqual({
      where: {},
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: 6,
    });
  });

  it('continues strictly after the cursor, in the direction of the order', () => {
    const cursor = encodeCursor(position);
    expect(pageArgs({ limit: 2, cursor }, 'newest-first').where).toEqual({
      OR: [
        { createdAt: { lt: position.createdAt } },
        { createdAt: position.createdAt, id: { lt: position.id } },
      ],
    });
    expect(pageArgs({ limit: 2, cursor }, 'oldest-first')).toEqual({
      where: {
        OR: [
          { createdAt: { gt: position.createdAt } },
          { createdAt: position.createdAt, id: { gt: position.id } },
        ],
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: 3,
    });
  });

  it('answers a foreign cursor with a 400 naming the field', () => {
    const attempt = () => pageArgs({ limit: 2, cursor: 'garbage' }, 'oldest-first');
    expect(attempt).toThrow(Problem);
    try {
      attempt();
    } catch (error) {
      expect((error as Problem).status).toBe(400);
      expect((error as Problem).extensions.errors?.map((e) => e.path)).toEqual(['querystring.cursor']);
    }
  });

  it('parses the query with a default limit and bounds', () => {
    expect(pageQuery.parse({})).toEqual({ limit: 20 });
    const cursor = encodeCursor(position);
    expect(pageQuery.parse({ limit: '7', cursor })).toEqual({ limit: 7, cursor });
    expect(pageQuery.safeParse({ cursor: 'x' }).success).toBe(false);
    expect(pageQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(pageQuery.safeParse({ limit: '101' }).success).toBe(false);
  });
});

describe('toPage', () => {
  const rows = [0, 1, 2].map((i) => ({ ...position, id: `00000000-0000-4000-8000-00000000000${i}` }));

  it('hands out the cursor of the last row shown when another page follows', () => {
    const { page, nextCursor } = toPage(rows, 2);
    expect(page).toEqual(rows.slice(0, 2));
    expect(nextCursor && decodeCursor(nextCursor)).toEqual(rows[1]);
  });

  it('has no next cursor on the last page', () => {
    expect(toPage(rows, 3)).toEqual({ page: rows, nextCursor: null });
  });
});
