// Reading an order's shipment, for support: admins only (customers see it in their order, /api/v2).
import { problems, requireAdmin, type ShopServer } from '@shop/platform';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';

export const shipmentView = z.object({
  orderId: z.uuid(),
  status: z.enum(['SCHEDULED', 'CANCELLED']),
  carrier: z.string().nullable(),
  trackingId: z.string().nullable(),
  failureReason: z.enum(['SHIPPING_UNAVAILABLE']).nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export function shipmentRoutes(app: ShopServer, prisma: PrismaClient): void {
  app.get(
    '/api/v1/shipments/:orderId',
    {
      schema: {
        tags: ['shipments'],
        summary: "An order's shipment: status, carrier and tracking id (admins)",
        params: z.object({ orderId: z.uuid() }),
        response: { 200: shipmentView },
      },
      config: { problems: { 403: 'Only admins may read shipments.', 404: 'No shipment for this order.' } },
    },
    async (request) => {
      requireAdmin(request);
      const shipment = await prisma.shipment.findUnique({ where: { orderId: request.params.orderId } });
      if (!shipment) throw problems.notFound(`No shipment for order ${request.params.orderId}.`);
      return {
        orderId: shipment.orderId,
        status: shipment.status,
        carrier: shipment.carrier,
        trackingId: shipment.trackingId,
        failureReason: shipment.failureReason as 'SHIPPING_UNAVAILABLE' | null,
        createdAt: shipment.createdAt.toISOString(),
        updatedAt: shipment.updatedAt.toISOString(),
      };
    },
  );
}
