// What must hold once the system has settled, whatever was killed on the way:
// read straight from each service's database, the payment provider's ledger and
// the dead-letter topic, never through the services' own APIs.
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

export interface SettledSources {
  databases: {
    inventory: string;
    orders: string;
    payments: string;
    notifications: string;
    users: string;
    shipping: string;
  };
  providerUrl: string;
  providerApiKey: string;
  kafkaBrokers: string[];
  /** The topic prefix of the stack under test. */
  topicPrefix: string;
}

export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
  /** Up to a few offending examples, for the report. */
  examples?: unknown[];
}

/** On-hand stock per product id, taken before the run. */
export type StockSnapshot = Map<string, number>;

async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export async function stockSnapshot(inventoryUrl: string): Promise<StockSnapshot> {
  const rows = await query<{ id: string; on_hand: number }>(inventoryUrl, 'SELECT id, on_hand FROM products');
  return new Map(rows.map((row) => [row.id, row.on_hand]));
}

interface ProviderAuthorization {
  id: string;
  status: 'authorized' | 'captured' | 'voided' | 'refunded';
  reference: string | null;
  captures: number;
}

async function providerLedger(url: string, apiKey: string): Promise<ProviderAuthorization[]> {
  const response = await fetch(`${url}/v1/authorizations`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  if (!response.ok) throw new Error(`the provider's ledger answered ${response.status}`);
  return ((await response.json()) as { items: ProviderAuthorization[] }).items;
}

const result = (name: string, offending: unknown[], okDetail: string, failDetail: string): InvariantResult =>
  offending.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: failDetail, examples: offending.slice(0, 5) };

/** Checks every invariant; `initialStock` is the snapshot taken before the orders of the run. */
export async function checkInvariants(
  sources: SettledSources,
  initialStock: StockSnapshot,
): Promise<InvariantResult[]> {
  const { databases } = sources;
  const results: InvariantResult[] = [];

  const orders = await query<{ id: string; status: string; cancellation_reason: string | null }>(
    databases.orders,
    'SELECT id, status, cancellation_reason FROM orders',
  );
  const pending = orders.filter((o) => o.status === 'PENDING');
  results.push(
    result(
      'every accepted order is CONFIRMED or CANCELLED',
      pending.map((o) => o.id),
      `${orders.length} orders, all finished`,
      `${pending.length} of ${orders.length} orders are still PENDING`,
    ),
  );

  const confirmedQuantities = await query<{ product_id: string; quantity: string }>(
    databases.orders,
    `SELECT i.product_id, sum(i.quantity) AS quantity FROM order_items i JOIN orders o ON o.id = i.order_id
      WHERE o.status = 'CONFIRMED' GROUP BY i.product_id`,
  );
  const sold = new Map(confirmedQuantities.map((row) => [row.product_id, Number(row.quantity)]));
  const products = await query<{ id: string; on_hand: number; reserved: number }>(
    databases.inventory,
    'SELECT id, on_hand, reserved FROM products',
  );
  const stockMismatch = products
    .filter((p) => initialStock.has(p.id))
    .map((p) => ({
      product: p.id,
      initial: initialStock.get(p.id)!,
      sold: sold.get(p.id) ?? 0,
      final: p.on_hand,
    }))
    .filter((p) => p.initial - p.sold !== p.final);
  results.push(
    result(
      'initial stock minus confirmed quantity equals final stock',
      stockMismatch,
      `${initialStock.size} products balance`,
      `${stockMismatch.length} products do not balance`,
    ),
  );
  const openReservations = await query<{ order_id: string }>(
    databases.inventory,
    "SELECT order_id FROM reservations WHERE status = 'RESERVED'",
  );
  const heldStock = products
    .filter((p) => p.reserved !== 0)
    .map((p) => ({ product: p.id, reserved: p.reserved }));
  results.push(
    result(
      'no reservation is left open',
      [...openReservations, ...heldStock],
      'no open reservation, nothing reserved',
      `${openReservations.length} reservations open, ${heldStock.length} products with reserved stock`,
    ),
  );

  const ledger = await providerLedger(sources.providerUrl, sources.providerApiKey);
  const byOrder = new Map<string, ProviderAuthorization[]>();
  for (const authorization of ledger) {
    if (!authorization.reference) continue;
    byOrder.set(authorization.reference, [...(byOrder.get(authorization.reference) ?? []), authorization]);
  }
  const badCaptures = orders
    .filter((o) => o.status === 'CONFIRMED')
    .map((o) => ({ order: o.id, authorizations: byOrder.get(o.id) ?? [] }))
    .filter(({ authorizations }) => {
      const captured = authorizations.filter((a) => a.status === 'captured');
      return captured.length !== 1 || captured[0]!.captures !== 1 || authorizations.length !== 1;
    });
  results.push(
    result(
      'every CONFIRMED order was captured exactly once',
      badCaptures,
      'one authorization, captured once, per confirmed order',
      `${badCaptures.length} confirmed orders were not captured exactly once`,
    ),
  );
  const moneyHeld = orders
    .filter((o) => o.status === 'CANCELLED')
    .map((o) => ({ order: o.id, authorizations: byOrder.get(o.id) ?? [] }))
    .filter(({ authorizations }) =>
      authorizations.some((a) => a.status === 'authorized' || a.status === 'captured'),
    );
  results.push(
    result(
      'every CANCELLED order holds no money',
      moneyHeld,
      'no money held for a cancelled order',
      `${moneyHeld.length} cancelled orders still hold money at the provider`,
    ),
  );

  // Shipping: a cancelled order has no live shipment; a confirmed order with an address has exactly one.
  const shipped = await query<{ id: string; address: boolean }>(
    databases.orders,
    "SELECT id, shipping_address IS NOT NULL AS address FROM orders WHERE status = 'CONFIRMED'",
  );
  const scheduled = new Set(
    (
      await query<{ order_id: string }>(
        databases.shipping,
        "SELECT order_id FROM shipments WHERE status = 'SCHEDULED'",
      )
    ).map((row) => row.order_id),
  );
  const cancelledOrders = new Set(orders.filter((o) => o.status === 'CANCELLED').map((o) => o.id));
  const liveForCancelled = [...scheduled].filter((id) => cancelledOrders.has(id));
  results.push(
    result(
      'no SCHEDULED shipment for a cancelled order',
      liveForCancelled,
      `${cancelledOrders.size} cancelled orders, none with a live shipment`,
      `${liveForCancelled.length} cancelled orders still have a SCHEDULED shipment`,
    ),
  );
  const unshipped = shipped.filter((o) => o.address && !scheduled.has(o.id)).map((o) => o.id);
  const shippedWithout = shipped.filter((o) => !o.address && scheduled.has(o.id)).map((o) => o.id);
  results.push(
    result(
      'exactly one SCHEDULED shipment for each confirmed order with an address',
      [...unshipped, ...shippedWithout],
      `${shipped.filter((o) => o.address).length} confirmed orders with an address, each shipped once`,
      `${unshipped.length} confirmed orders with an address have no scheduled shipment, ${shippedWithout.length} without one have`,
    ),
  );

  const finished = orders.filter((o) => o.status !== 'PENDING');
  const notifications = await query<{ order_id: string; n: string }>(
    databases.notifications,
    `SELECT order_id, count(*) AS n FROM notifications
      WHERE type IN ('order.confirmed', 'order.cancelled') AND order_id IS NOT NULL GROUP BY order_id`,
  );
  const notified = new Map(notifications.map((row) => [row.order_id, Number(row.n)]));
  const wrongNotifications = finished
    .map((o) => ({ order: o.id, notifications: notified.get(o.id) ?? 0 }))
    .filter((o) => o.notifications !== 1);
  results.push(
    result(
      'exactly one notification per finished order',
      wrongNotifications,
      `${finished.length} finished orders, one notification each`,
      `${wrongNotifications.length} finished orders have no or several notifications`,
    ),
  );

  const undrained: { service: string; pending: number }[] = [];
  for (const [service, url] of Object.entries(databases)) {
    const [row] = await query<{ n: string }>(
      url,
      'SELECT count(*) AS n FROM outbox WHERE published_at IS NULL',
    );
    if (Number(row?.n) > 0) undrained.push({ service, pending: Number(row?.n) });
  }
  results.push(
    result('the outbox is drained', undrained, 'every outbox is empty', 'messages still wait in an outbox'),
  );

  const deadLetters = await readDeadLetters(sources.kafkaBrokers, `${sources.topicPrefix}dead-letters`);
  results.push(
    deadLetters.length === 0
      ? { name: 'the dead-letter topic is empty', ok: true, detail: 'no dead letters' }
      : {
          name: 'the dead-letter topic is empty',
          ok: false,
          detail: `${deadLetters.length} dead letters`,
          examples: deadLetters.slice(0, 5),
        },
  );
  return results;
}

export interface DeadLetter {
  /** The original message's key (the aggregate id). */
  key: string;
  group: string;
  topic: string;
  error: string;
  attempts: string;
}

/** Every message on the dead-letter topic, with the error the consumer attached. */
export async function readDeadLetters(brokers: string[], topic: string): Promise<DeadLetter[]> {
  const kafka = new Kafka({ brokers, clientId: 'invariants', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    const offsets = await admin.fetchTopicOffsets(topic);
    const total = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    if (total === 0) return [];
    const consumer = kafka.consumer({ groupId: `invariants-${Date.now()}-${Math.random()}` });
    const letters: DeadLetter[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 15_000);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const header = (name: string) => message.headers?.[name]?.toString() ?? '';
            letters.push({
              key: message.key?.toString() ?? '',
              group: header('dlq-consumer-group'),
              topic: header('dlq-original-topic'),
              error: header('dlq-error'),
              attempts: header('dlq-attempts'),
            });
            if (letters.length >= total) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    return letters;
  } finally {
    await admin.disconnect();
  }
}

export function formatInvariants(results: InvariantResult[]): string {
  return results
    .map((r) => {
      const head = `${r.ok ? 'PASS' : 'FAIL'}  ${r.name}: ${r.detail}`;
      return r.examples ? `${head}\n        e.g. ${JSON.stringify(r.examples)}` : head;
    })
    .join('\n');
}
