// Placing and reading orders. Placing one is idempotent by the client's
// Idempotency-Key: a retry with the same body returns the order the first
// request created, whatever became of it since.
import { randomUUID } from 'node:crypto';
import {
  currentTraceparent,
  Problem,
  pageArgs,
  pageQuery,
  problems,
  requireUser,
  type ShopServer,
  toPage,
} from '@shop/platform';
import { z } from 'zod';
import type { Catalog } from '../catalog.js';
import type { PrismaClient } from '../db.js';
import { newOrder, orderView, priceBasket, requestHash } from '../domain/order.js';
import { Prisma } from '../generated/prisma/client.js';
import type { OrderSaga } from '../saga/orchestrator.js';

const withItems = { items: { select: { productId: true, quantity: true, unitPriceCents: true } } } as const;
type OrderRow = Prisma.OrderGetPayload<{ include: typeof withItems }>;

function toView(order: OrderRow) {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    items: order.items,
    totalCents: order.totalCents,
    currency: order.currency.trim(),
    cancellationReason: order.cancellationReason,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

const idempotencyHeader = z.object({
  'idempotency-key': z
    .string({ error: 'the Idempotency-Key header is required' })
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
});

export function orderRoutes(
  app: ShopServer,
  deps: { prisma: PrismaClient; catalog: Catalog; saga: OrderSaga },
): void {
  const { prisma, catalog, saga } = deps;

  async function replay(userId: string, key: string, hash: string) {
    const existing = await prisma.idempotencyKey.findUnique({ where: { userId_key: { userId, key } } });
    if (!existing) return undefined;
    if (existing.requestHash !== hash) {
      throw problems.unprocessable(
        'idempotency-key-reused',
        'This Idempotency-Key was used with a different request body; use a new key for a new order.',
      );
    }
    return prisma.order.findUniqueOrThrow({ where: { id: existing.orderId }, include: withItems });
  }

  app.post(
    '/api/v1/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Place an order; its saga runs asynchronously (poll GET /orders/:id)',
        headers: idempotencyHeader,
        body: newOrder,
        response: { 202: orderView },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      const key = request.headers['idempotency-key'];
      const hash = requestHash(request.body);
      const replayed = await replay(user.id, key, hash);
      if (replayed) return reply.code(202).header('idempotent-replayed', 'true').send(toView(replayed));

      const priced = priceBasket(
        request.body.items,
        await catalog.products([...new Set(request.body.items.map((item) => item.productId))]),
      );
      if (!priced.ok) {
        throw priced.problem === 'unknown-products'
          ? new Problem(422, 'unknown-products', `No such products: ${priced.productIds.join(', ')}.`, {
              productIds: priced.productIds,
            })
          : new Problem(
              422,
              'mixed-currencies',
              `Products are priced in ${priced.currencies.join(' and ')}; order them separately.`,
            );
      }

      const orderId = randomUUID();
      try {
        const order = await prisma.$transaction(async (tx) => {
          await tx.idempotencyKey.create({ data: { userId: user.id, key, requestHash: hash, orderId } });
          const created = await tx.order.create({
            data: {
              id: orderId,
              userId: user.id,
              sagaStep: 'RESERVING_STOCK',
              totalCents: priced.totalCents,
              currency: priced.currency,
              paymentToken: request.body.payment.token,
              stepDeadline: saga.firstDeadline(),
              traceparent: currentTraceparent(),
              items: { create: priced.items },
            },
            include: withItems,
          });
          await saga.begin(tx, {
            orderId,
            userId: user.id,
            items: priced.items,
            totalCents: priced.totalCents,
            currency: priced.currency,
            paymentToken: request.body.payment.token,
          });
          return created;
        });
        return reply.code(202).header('location', `/api/v1/orders/${order.id}`).send(toView(order));
      } catch (error) {
        // Two requests with one key raced: the loser answers like a retry.
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
          const winner = await replay(user.id, key, hash);
          if (winner) return reply.code(202).header('idempotent-replayed', 'true').send(toView(winner));
        }
        throw error;
      }
    },
  );

  app.get(
    '/api/v1/orders/:id',
    {
      schema: {
        tags: ['orders'],
        summary: 'One of your orders',
        params: z.object({ id: z.uuid() }),
        response: { 200: orderView },
      },
    },
    async (request) => {
      const user = requireUser(request);
      const order = await prisma.order.findUnique({ where: { id: request.params.id }, include: withItems });
      // Someone else's order does not exist, as far as this caller can tell.
      if (!order || (order.userId !== user.id && user.role !== 'admin')) {
        throw problems.notFound(`No order ${request.params.id}.`);
      }
      return toView(order);
    },
  );

  app.get(
    '/api/v1/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Your orders, newest first, a page at a time',
        querystring: pageQuery,
        response: { 200: z.object({ items: z.array(orderView), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      const user = requireUser(request);
      const { where, ...order } = pageArgs(request.query, 'newest-first');
      const orders = await prisma.order.findMany({
        where: { userId: user.id, ...where },
        ...order,
        include: withItems,
      });
      const { page, nextCursor } = toPage(orders, request.query.limit);
      return { items: page.map(toView), nextCursor };
    },
  );
}
