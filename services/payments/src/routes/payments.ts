// Reading an order's payment: for its owner (the user in the service token) and admins.
import { problems, requireUser, type ShopServer } from '@shop/platform';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';
import { maySee, paymentView, toView } from '../domain/payment-view.js';

const orderParams = z.object({ orderId: z.uuid() });

export function paymentRoutes(app: ShopServer, prisma: PrismaClient): void {
  app.get(
    '/api/v1/payments/:orderId',
    {
      schema: {
        tags: ['payments'],
        summary: "The payment of an order: its status and amount (the order's owner, or an admin)",
        params: orderParams,
        response: { 200: paymentView },
      },
    },
    async (request) => {
      const user = requireUser(request);
      const { orderId } = request.params;
      const payment = await prisma.payment.findUnique({ where: { orderId } });
      // Someone else's payment answers exactly like a missing one.
      if (!payment || !maySee(user, payment)) throw problems.notFound(`No payment for order ${orderId}.`);
      return toView(payment, { forAdmin: user.role === 'admin' });
    },
  );
}
