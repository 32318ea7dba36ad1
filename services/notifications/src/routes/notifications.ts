// A signed-in user's own notifications, newest first, a page at a time.
import { pageArgs, pageQuery, requireUser, type ShopServer, toPage } from '@shop/platform';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';
import { notificationView, toView } from '../domain/notification.js';

export function notificationRoutes(app: ShopServer, prisma: PrismaClient): void {
  app.get(
    '/api/v1/notifications',
    {
      schema: {
        tags: ['notifications'],
        summary: "The calling user's notifications, newest first, a page at a time",
        querystring: pageQuery,
        response: { 200: z.object({ items: z.array(notificationView), nextCursor: z.string().nullable() }) },
      },
      config: {
        links: {
          200: {
            ReadOrder: {
              operation: 'GET /api/v1/orders/:id',
              description: 'The order the first notification is about (when it is about one).',
              parameters: { id: '$response.body#/items/0/orderId' },
            },
          },
        },
      },
      // Who is asking comes before what they ask: no user is a 401 even with a bad query.
      preValidation: async (request) => {
        requireUser(request);
      },
    },
    async (request) => {
      const user = requireUser(request);
      const { where, ...order } = pageArgs(request.query, 'newest-first');
      const rows = await prisma.notification.findMany({
        where: { userId: user.id, ...where },
        ...order,
        select: { id: true, type: true, orderId: true, createdAt: true },
      });
      const { page, nextCursor } = toPage(rows, request.query.limit);
      return { items: page.map(toView), nextCursor };
    },
  );
}
