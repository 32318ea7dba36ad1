// What a product looks like to clients, and the cursor that pages through them.
import { z } from 'zod';
import type { Product } from '../generated/prisma/client.js';
import { available } from './reservation.js';

export const productView = z.object({
  id: z.uuid(),
  sku: z.string(),
  name: z.string(),
  description: z.string(),
  priceCents: z.int(),
  currency: z.string(),
  available: z.int(),
});
export type ProductView = z.infer<typeof productView>;

export function toView(product: Product): ProductView {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    priceCents: product.priceCents,
    currency: product.currency,
    available: available(product),
  };
}

/** An opaque page cursor: the (createdAt, id) of the last product of the previous page. */
export function encodeCursor(product: Pick<Product, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([product.createdAt.toISOString(), product.id])).toString('base64url');
}

const cursorShape = z.tuple([z.iso.datetime(), z.uuid()]);

export function decodeCursor(cursor: string): { createdAt: Date; id: string } | undefined {
  try {
    const parsed = cursorShape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString()));
    return parsed.success ? { createdAt: new Date(parsed.data[0]), id: parsed.data[1] } : undefined;
  } catch {
    return undefined;
  }
}
