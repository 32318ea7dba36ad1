// Placing and reading orders, under /api/v1 and /api/v2 side by side: v2 orders
// name a shipping address and show their shipment; v1 orders have none and
// skip the saga's shipping step; either version reads any order in its own
// shape. Placing one is idempotent by the client's
// Idempotency-Key: a retry with the same body returns the order the first
// request created, whatever became of it since. A client learns the outcome
// without polling: `Prefer: wait=N` on GET /orders/:id answers once the order is
// final (or after N seconds), and GET /orders/:id/events streams its state as
// Server-Sent Events until it is final. Plain polling keeps working.
import { randomUUID } from 'node:crypto';
import {
  currentTraceparent,
  type Database,
  eventStream,
  Problem,
  pageArgs,
  pageQuery,
  problems,
  requireUser,
  type ShopServer,
  toPage,
} from '@shop/platform';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../catalog.js';
import type { PrismaClient } from '../db.js';
import {
  newOrder,
  newOrderV2,
  type OrderView,
  orderView,
  orderViewV2,
  type Pricing,
  priceBasket,
  requestHash,
} from '../domain/order.js';
import { waitPreference } from '../domain/prefer.js';
import { findByIdempotencyKey, findOrder, placeOrder } from '../order-store.js';
import type { OrderWatch } from '../order-watch.js';
import type { OrderSaga } from '../saga/orchestrator.js';

const withItems = { items: { select: { productId: true, quantity: true, unitPriceCents: true } } } as const;

const idempotencyHeader = z.object({
  'idempotency-key': z
    .string({ error: 'the Idempotency-Key header is required' })
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
});

const orderParams = z.object({ id: z.uuid() });

export interface OrderRouteDeps {
  database: Database;
  prisma: PrismaClient;
  catalog: Catalog;
  saga: OrderSaga;
  watch: OrderWatch;
  /** The longest `Prefer: wait` honoured. */
  maxWaitMs: number;
}

/** The API versions side by side: what each takes to place an order and how it shows one. */
const versions = [
  { prefix: '/api/v1', body: newOrder, view: orderView },
  { prefix: '/api/v2', body: newOrderV2, view: orderViewV2 },
] as const;

function pricingProblem(refusal: Exclude<Pricing, { ok: true }>): Problem {
  switch (refusal.problem) {
    case 'unknown-products':
      return new Problem(422, 'unknown-products', `No such products: ${refusal.productIds.join(', ')}.`, {
        productIds: refusal.productIds,
      });
    case 'mixed-currencies':
      return new Problem(
        422,
        'mixed-currencies',
        `Products are priced in ${refusal.currencies.join(' and ')}; order them separately.`,
      );
    case 'total-too-large':
      return new Problem(
        422,
        'total-too-large',
        `The total, ${refusal.totalCents} cents, is above the largest amount an order may have; split it.`,
      );
  }
}

const notYours = { 404: 'No such order of yours.' };

export function orderRoutes(app: ShopServer, deps: OrderRouteDeps): void {
  for (const version of versions) versionRoutes(app, deps, version);
}

function versionRoutes(
  app: ShopServer,
  deps: OrderRouteDeps,
  { prefix, body: newOrderBody, view }: (typeof versions)[number],
): void {
  const { database, prisma, catalog, saga, watch } = deps;

  async function replay(userId: string, key: string, hash: string): Promise<OrderView | undefined> {
    const existing = await findByIdempotencyKey(database, userId, key);
    if (!existing) return undefined;
    if (existing.requestHash !== hash) {
      throw problems.unprocessable(
        'idempotency-key-reused',
        'This Idempotency-Key was used with a different request body; use a new key for a new order.',
      );
    }
    return existing.order;
  }

  /** The caller's order, or 404: someone else's order does not exist, as far as the caller can tell. */
  async function ownOrder(request: Parameters<typeof requireUser>[0], id: string): Promise<OrderView> {
    const user = requireUser(request);
    const order = await findOrder(database, id);
    if (!order || (order.userId !== user.id && user.role !== 'admin'))
      throw problems.notFound(`No order ${id}.`);
    return order;
  }

  app.post(
    `${prefix}/orders`,
    {
      schema: {
        tags: ['orders'],
        summary:
          'Place an order; its saga runs asynchronously (wait for the outcome with GET /orders/:id and Prefer: wait=N, or GET /orders/:id/events)',
        headers: idempotencyHeader,
        body: newOrderBody,
        response: { 202: view },
      },
      config: {
        problems: {
          422: 'The order cannot be placed as asked: unknown products, products priced in different currencies, a total above the largest amount, or an Idempotency-Key used before with another body (`type` says which).',
        },
        links: {
          202: {
            ReadOrder: { operation: `GET ${prefix}/orders/:id`, parameters: { id: '$response.body#/id' } },
            FollowOrder: {
              operation: `GET ${prefix}/orders/:id/events`,
              parameters: { id: '$response.body#/id' },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      const key = request.headers['idempotency-key'];
      const hash = requestHash(request.body);
      const replayed = () => reply.code(202).header('idempotent-replayed', 'true');

      // A new key is the common case: price and place straight away; the key's row, inserted
      // first in the placing statement, tells a retry apart (it inserts nothing).
      const priced = priceBasket(
        request.body.items,
        await catalog.products([...new Set(request.body.items.map((item) => item.productId))]),
      );
      if (!priced.ok) {
        // A retry is answered with its order even when the catalogue has changed since.
        const earlier = await replay(user.id, key, hash);
        if (earlier) return replayed().send(earlier);
        throw pricingProblem(priced);
      }

      const orderId = randomUUID();
      const traceparent = currentTraceparent();
      const shippingAddress = 'shippingAddress' in request.body ? request.body.shippingAddress : null;
      const facts = {
        orderId,
        userId: user.id,
        items: priced.items,
        totalCents: priced.totalCents,
        currency: priced.currency,
        paymentToken: request.body.payment.token,
        shippingAddress,
      };
      const first = saga.begin(facts, traceparent);
      const placed = await placeOrder(
        database,
        {
          id: orderId,
          userId: user.id,
          idempotencyKey: key,
          requestHash: hash,
          items: priced.items,
          totalCents: priced.totalCents,
          currency: priced.currency,
          paymentToken: request.body.payment.token,
          sagaStep: first.step,
          stepDeadlineMs: saga.firstDeadline(first.step),
          traceparent,
          shippingAddress,
        },
        first.messages,
      );
      if (placed) return reply.code(202).header('location', `${prefix}/orders/${orderId}`).send(placed);
      // The key was used before (a retry), or at this very moment by a concurrent request.
      const earlier = await replay(user.id, key, hash);
      if (earlier) return replayed().send(earlier);
      throw new Error(`order with Idempotency-Key ${key}: the key is taken but names no order`);
    },
  );

  app.get(
    `${prefix}/orders/:id`,
    {
      schema: {
        tags: ['orders'],
        summary:
          'One of your orders. With `Prefer: wait=N` (seconds), a PENDING order is answered once it is final, or after N seconds (at most the server maximum) with its state then.',
        params: orderParams,
        headers: z.object({ prefer: z.string().max(200).optional() }),
        response: { 200: view },
      },
      config: { problems: notYours },
    },
    async (request, reply) => {
      const waitMs = Math.min(waitPreference(request.headers.prefer), deps.maxWaitMs);
      if (waitMs === 0) return ownOrder(request, request.params.id);
      reply.header('preference-applied', `wait=${Math.floor(waitMs / 1000)}`).header('vary', 'Prefer');
      const deadline = Date.now() + waitMs;
      const closed = abortOnClose(reply);
      for (;;) {
        // Subscribed before reading: a change committed in between is not missed.
        const { changed, cancel } = await watch.subscribe(request.params.id);
        try {
          const order = await ownOrder(request, request.params.id);
          const left = deadline - Date.now();
          if (order.status !== 'PENDING' || left <= 0 || closed.aborted) return order;
          await Promise.race([changed, delay(left, closed)]);
        } finally {
          cancel();
        }
      }
    },
  );

  app.get(
    `${prefix}/orders/:id/events`,
    {
      schema: {
        tags: ['orders'],
        summary:
          'Your order as Server-Sent Events: an `order` event with its state now, another each time its status changes, and the stream ends once it is final. Reconnect at any time to get the current state.',
        params: orderParams,
        response: {
          200: eventStream('`order` events whose data is the order (as GET /orders/:id)', { order: view }),
        },
      },
      config: { problems: notYours },
    },
    async (request, reply) => {
      let sent = await ownOrder(request, request.params.id);
      const closed = abortOnClose(reply);
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      // Shown as this version shows an order, as the JSON routes' serializer does (a v2 order
      // read through /api/v1 has no shipping address in its events either).
      const send = (order: OrderView) =>
        out.write(`event: order\ndata: ${JSON.stringify(view.parse(order))}\n\n`);
      send(sent);
      try {
        while (sent.status === 'PENDING' && !closed.aborted) {
          const { changed, cancel } = await watch.subscribe(request.params.id);
          try {
            const order = await findOrder(database, request.params.id);
            if (order && order.status !== sent.status) {
              send(order);
              sent = order;
              continue;
            }
            // A comment now and then keeps proxies from timing the idle stream out.
            await Promise.race([changed, delay(SSE_KEEPALIVE_MS, closed)]);
            if (!closed.aborted) out.write(': waiting\n\n');
          } finally {
            cancel();
          }
        }
      } catch (err) {
        request.log.warn(
          { err, orderId: request.params.id },
          'order event stream failed; the client reconnects',
        );
      } finally {
        out.end();
      }
    },
  );

  app.get(
    `${prefix}/orders`,
    {
      schema: {
        tags: ['orders'],
        summary: 'Your orders, newest first, a page at a time',
        querystring: pageQuery,
        response: { 200: z.object({ items: z.array(view), nextCursor: z.string().nullable() }) },
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
      return {
        items: page.map((o) => ({
          id: o.id,
          userId: o.userId,
          status: o.status,
          items: o.items,
          totalCents: o.totalCents,
          currency: o.currency.trim(),
          cancellationReason: o.cancellationReason,
          createdAt: o.createdAt.toISOString(),
          updatedAt: o.updatedAt.toISOString(),
          shippingAddress: o.shippingAddress as OrderView['shippingAddress'],
          shipment: o.shipment as OrderView['shipment'],
        })),
        nextCursor,
      };
    },
  );
}

const SSE_KEEPALIVE_MS = 5000;

function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => controller.abort());
  return controller.signal;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
