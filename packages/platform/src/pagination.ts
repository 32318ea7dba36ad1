// Keyset pagination cursors: an opaque token holding the (createdAt, id) of the
// last item of a page, so the next page starts right after it whatever was
// inserted meanwhile. Its published pattern is the whole rule: every string
// that matches it is a position (milliseconds since the epoch, then the id),
// so a client can never send a schema-valid cursor that is then refused.
import { z } from 'zod';
import { UUID_PATTERN } from './fields.js';
import { problems } from './problems.js';

export interface CursorPosition {
  createdAt: Date;
  id: string;
}

// At most 13 digits: every such number of milliseconds is a Date with a four-digit year
// (up to 2286), which is what the databases read.
const CURSOR = new RegExp(`^(0|[1-9][0-9]{0,12})_(${UUID_PATTERN})$`);

export function encodeCursor(position: CursorPosition): string {
  return `${position.createdAt.getTime()}_${position.id}`;
}

/** The position in a cursor, or undefined when the token is not one this API hands out. */
export function decodeCursor(cursor: string): CursorPosition | undefined {
  const match = CURSOR.exec(cursor);
  return match ? { createdAt: new Date(Number(match[1])), id: match[2]!.toLowerCase() } : undefined;
}

/** `?limit=&cursor=` of every paginated list. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(CURSOR, 'a cursor from a previous page').optional(),
});

export type PageOrder = 'oldest-first' | 'newest-first';

/**
 * The query arguments (Prisma's shape) for one page of a list ordered by
 * (createdAt, id): the rows strictly after the cursor's position, one more than
 * the limit so `toPage` can tell whether another page follows. A cursor this
 * API did not hand out is a 400 naming the field.
 */
export function pageArgs(query: { limit: number; cursor?: string | undefined }, order: PageOrder) {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (query.cursor !== undefined && !after) {
    throw problems.badRequest('The cursor is not one this API handed out.', [
      { path: 'querystring.cursor', message: 'invalid cursor' },
    ]);
  }
  const direction: 'asc' | 'desc' = order === 'newest-first' ? 'desc' : 'asc';
  const beyond = <T>(value: T) => (order === 'newest-first' ? { lt: value } : { gt: value });
  return {
    where: after
      ? { OR: [{ createdAt: beyond(after.createdAt) }, { createdAt: after.createdAt, id: beyond(after.id) }] }
      : {},
    orderBy: [{ createdAt: direction }, { id: direction }],
    take: query.limit + 1,
  };
}

/** The page itself and the cursor of the next one (null on the last page). */
export function toPage<Row extends CursorPosition>(rows: Row[], limit: number) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
