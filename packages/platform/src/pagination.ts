// Keyset pagination cursors: an opaque token holding the (createdAt, id) of the
// last item of a page, so the next page starts right after it whatever was
// inserted meanwhile.
import { z } from 'zod';

export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString('base64url');
}

const cursorShape = z.tuple([z.iso.datetime(), z.uuid()]);

/** The position in a cursor, or undefined when the token is not one this API handed out. */
export function decodeCursor(cursor: string): CursorPosition | undefined {
  try {
    const parsed = cursorShape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString()));
    return parsed.success ? { createdAt: new Date(parsed.data[0]), id: parsed.data[1] } : undefined;
  } catch {
    return undefined;
  }
}
