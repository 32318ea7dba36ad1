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
