// A signed-in user's own notifications, newest first, a page at a time.
import { problems, requireUser, type ShopServer } from '@shop/platform';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';
import { decodeCursor, encodeCursor } from '../domain/cursor.js';
import { notificationView, toView } from '../domain/notification.js';

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export function notificationRoutes(app: ShopServer, prisma: PrismaClient): void {
  app.get(
    '/api/v1/notifications',
    {
      schema: {
        tags: ['notifications'],
        summary: "The calling user's notifications, newest first, a page at a time",
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(notificationView), nextCursor: z.string().nullable() }) },
      },
      // Who is asking comes before what they ask: no user is a 401 even with a bad query.
      preValidation: async (request) => {
        requireUser(request);
      },
    },
    async (request) => {
      const user = requireUser(request);
      const { limit, cursor } = request.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && !after) {
        throw problems.badRequest('The cursor is not one this API handed out.', [
          { path: 'querystring.cursor', message: 'invalid cursor' },
        ]);
      }
      const rows = await prisma.notification.findMany({
        where: {
          userId: user.id,
          ...(after
            ? {
                OR: [
                  { createdAt: { lt: after.createdAt } },
                  { createdAt: after.createdAt, id: { lt: after.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit + 1,
        select: { id: true, type: true, orderId: true, createdAt: true },
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(toView),
        nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
      };
    },
  );
}
