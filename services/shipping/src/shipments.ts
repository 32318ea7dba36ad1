// The saga's shipping commands, a chunk of them in the consumer's one
// transaction: one statement locks the chunk's shipments, the pure planner
// (domain/shipment-plan.ts) decides, one statement writes every change, and
// the replies go to the outbox. The carrier is simulated in-process
// (domain/carrier.ts), so nothing here waits on a remote call.
import { buildMessage, type Message } from '@shop/contracts';
import {
  Counter,
  enqueue,
  type HandlerContext,
  type MessageHandling,
  metric,
  type Registry,
  type Sql,
} from '@shop/platform';
import {
  planShipments,
  type ShipmentPlan,
  type ShipmentRecord,
  type ShippingCommand,
} from './domain/shipment-plan.js';

const LOCK = {
  name: 'shipping-lock',
  text: `SELECT order_id, status, carrier, tracking_id, address, failure_reason
           FROM shipments WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE`,
};

const WRITE = {
  name: 'shipping-write',
  text: `WITH created AS (
           INSERT INTO shipments (order_id, status, carrier, tracking_id, address, failure_reason, updated_at)
           SELECT c.order_id, c.status::shipment_status, c.carrier, c.tracking_id, c.address, c.failure_reason, now()
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[])
                  AS c(order_id, status, carrier, tracking_id, address, failure_reason))
         UPDATE shipments s SET status = u.status::shipment_status, updated_at = now()
           FROM unnest($7::uuid[], $8::text[]) AS u(order_id, status)
          WHERE s.order_id = u.order_id`,
};

interface ShipmentRow {
  order_id: string;
  status: ShipmentRecord['status'];
  carrier: string | null;
  tracking_id: string | null;
  address: ShipmentRecord['address'];
  failure_reason: ShipmentRecord['failureReason'];
}

async function write(tx: Sql, plan: ShipmentPlan): Promise<void> {
  const created = [...plan.created.values()];
  const changed = [...plan.changed.values()];
  if (created.length + changed.length === 0) return;
  await tx.query({
    ...WRITE,
    values: [
      created.map((s) => s.orderId),
      created.map((s) => s.status),
      created.map((s) => s.carrier),
      created.map((s) => s.trackingId),
      created.map((s) => (s.address ? JSON.stringify(s.address) : null)),
      created.map((s) => s.failureReason),
      changed.map((s) => s.orderId),
      changed.map((s) => s.status),
    ],
  });
}

export function shippingHandling(metrics?: Registry): MessageHandling {
  const outcomes =
    metrics &&
    metric(
      metrics,
      'shipping_commands_total',
      () =>
        new Counter({
          name: 'shipping_commands_total',
          help: 'Shipping commands by the reply they got (shipment.scheduled, shipment.scheduling-failed, shipment.cancelled, or none). Counted once committed.',
          labelNames: ['command', 'reply'],
          registers: [metrics],
        }),
    );
  return {
    types: ['shipment.schedule', 'shipment.cancel'],
    async handle(messages: readonly Message[], { tx, traceparent, afterCommit }: HandlerContext) {
      const commands = messages as readonly (Message & ShippingCommand)[];
      const { rows } = await tx.query<ShipmentRow>({
        ...LOCK,
        values: [[...new Set(commands.map((c) => c.data.orderId))]],
      });
      const records = new Map(
        rows.map((r) => [
          r.order_id,
          {
            orderId: r.order_id,
            status: r.status,
            carrier: r.carrier,
            trackingId: r.tracking_id,
            address: r.address,
            failureReason: r.failure_reason,
          },
        ]),
      );
      const plan = planShipments(commands, records);
      await write(tx, plan);
      await enqueue(
        tx,
        ...commands.flatMap((command, i) => {
          const reply = plan.replies[i];
          return reply
            ? [
                buildMessage(reply.type, command.data.orderId, reply.data as never, {
                  source: 'shipping',
                  traceparent: traceparent(command),
                }),
              ]
            : [];
        }),
      );
      afterCommit(() => {
        for (const [i, command] of commands.entries())
          outcomes?.inc({ command: command.type, reply: plan.replies[i]?.type ?? 'none' });
      });
    },
  };
}
