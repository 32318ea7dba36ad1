// The opaque page cursor of the notification list: the (createdAt, id) of the
// last item of the previous page. The list is ordered by that pair, so a page
// boundary is exact even when several notifications share a millisecond.
import { z } from 'zod';

export interface Position {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString('base64url');
}

const cursorShape = z.tuple([z.iso.datetime(), z.uuid()]);

/** The position a cursor names, or undefined when it is not one this API handed out. */
export function decodeCursor(cursor: string): Position | undefined {
  try {
    const parsed = cursorShape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString()));
    return parsed.success ? { createdAt: new Date(parsed.data[0]), id: parsed.data[1] } : undefined;
  } catch {
    return undefined;
  }
}
