// The product catalogue: public reads, admin writes.
import {
  type Database,
  Problem,
  pageArgs,
  pageQuery,
  partialChange,
  problems,
  requireAdmin,
  type ShopServer,
  text,
  toPage,
  trimmedText,
  UUID_PATTERN,
} from '@shop/platform';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';
import { type ProductView, productView, toView } from '../domain/product.js';
import { Prisma } from '../generated/prisma/client.js';

const currency = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR');
const newProduct = z.object({
  sku: trimmedText({ max: 64 }),
  name: trimmedText({ max: 200 }),
  description: text({ max: 5000 }).default(''),
  priceCents: z.int().positive().max(100_000_000),
  currency,
  initialStock: z.int().nonnegative().max(10_000_000),
});
const productChange = partialChange({
  name: trimmedText({ max: 200 }),
  description: text({ max: 5000 }),
  priceCents: z.int().positive().max(100_000_000),
  currency,
  /** The new physical stock; it may not drop below what is reserved for open orders. */
  stock: z.int().nonnegative().max(10_000_000),
});
const idParams = z.object({ id: z.uuid() });
const listQuery = pageQuery.extend({
  /** Comma-separated ids: fetch exactly these products (used by orders to price a basket). */
  ids: z
    .string()
    .regex(new RegExp(`^${UUID_PATTERN}(,${UUID_PATTERN}){0,99}$`), 'up to 100 comma-separated product ids')
    .transform((value) => value.split(','))
    .optional(),
});

// Orders prices every basket with `?ids=`: one prepared statement on node-postgres, not a Prisma
// query (whose query compiler was a fifth of inventory's CPU under the order benchmark).
const PRODUCTS_BY_ID = {
  name: 'inventory-products-by-id',
  text: `SELECT id::text, sku, name, description, price_cents AS "priceCents", currency,
                on_hand - reserved AS available
           FROM products WHERE id = ANY($1::uuid[])`,
};

export function productRoutes(app: ShopServer, prisma: PrismaClient, database: Database): void {
  app.get(
    '/api/v1/products',
    {
      schema: {
        tags: ['products'],
        summary: 'List products, oldest first, a page at a time',
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(productView), nextCursor: z.string().nullable() }) },
      },
      config: {
        links: {
          200: {
            ReadProduct: {
              operation: 'GET /api/v1/products/:id',
              parameters: { id: '$response.body#/items/0/id' },
            },
            OrderProduct: {
              operation: 'POST /api/v1/orders',
              description: 'Order one of the first product listed.',
              requestBody: {
                items: [{ productId: '$response.body#/items/0/id', quantity: 1 }],
                payment: { token: 'tok_visa' },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const { limit, cursor, ids } = request.query;
      if (ids) {
        const { rows } = await database.query<ProductView>({ ...PRODUCTS_BY_ID, values: [ids] });
        return { items: rows, nextCursor: null };
      }
      const products = await prisma.product.findMany(pageArgs({ limit, cursor }, 'oldest-first'));
      const { page, nextCursor } = toPage(products, limit);
      return { items: page.map(toView), nextCursor };
    },
  );

  app.get(
    '/api/v1/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'One product with its available stock',
        params: idParams,
        response: { 200: productView },
      },
      config: { problems: { 404: 'No such product.' } },
    },
    async (request) => {
      const product = await prisma.product.findUnique({ where: { id: request.params.id } });
      if (!product) throw problems.notFound(`No product ${request.params.id}.`);
      return toView(product);
    },
  );

  app.post(
    '/api/v1/products',
    {
      schema: {
        tags: ['products'],
        summary: 'Create a product (admin)',
        body: newProduct,
        response: { 201: productView },
      },
      config: {
        problems: { 403: 'Only admins may create products.', 409: 'A product with this SKU exists already.' },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const { initialStock, ...fields } = request.body;
      try {
        const product = await prisma.product.create({ data: { ...fields, onHand: initialStock } });
        return reply.code(201).header('location', `/api/v1/products/${product.id}`).send(toView(product));
      } catch (error) {
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
          throw problems.conflict('sku-taken', `A product with SKU ${request.body.sku} exists already.`);
        }
        throw error;
      }
    },
  );

  app.patch(
    '/api/v1/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'Change a product (admin)',
        params: idParams,
        body: productChange,
        response: { 200: productView },
      },
      config: {
        problems: {
          403: 'Only admins may change products.',
          404: 'No such product.',
          409: 'The stock would drop below what is reserved for open orders.',
        },
      },
    },
    async (request) => {
      requireAdmin(request);
      const { stock, ...fields } = request.body;
      const product = await prisma.$transaction(async (tx) => {
        const current = await tx.$queryRaw<{ reserved: number }[]>`
          SELECT reserved FROM products WHERE id = ${request.params.id}::uuid FOR UPDATE`;
        const row = current[0];
        if (!row) throw problems.notFound(`No product ${request.params.id}.`);
        if (stock !== undefined && stock < row.reserved) {
          throw new Problem(
            409,
            'stock-below-reserved',
            `Stock cannot drop to ${stock}: ${row.reserved} units are reserved for open orders.`,
          );
        }
        return tx.product.update({
          where: { id: request.params.id },
          data: { ...fields, ...(stock === undefined ? {} : { onHand: stock }) },
        });
      });
      return toView(product);
    },
  );
}
