// What the generated users do: the setup of a run (the admin's products, the
// first customers), and one function per kind of arrival. An order is placed,
// then followed until it is final (long-poll with Prefer: wait, or polling),
// without holding up the schedule.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallResult, ShopHttp } from './http.js';
import type { ArrivalKind, LoadOptions, OrderKind } from './options.js';
import { between, pick, type Random } from './random.js';
import type { LoadStats } from './stats.js';

interface Customer {
  email: string;
  password: string;
  token?: string;
  tokenAt: number;
}

interface OrderView {
  id: string;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
  cancellationReason: string | null;
}

export interface TrafficHooks {
  /** Each order the shop accepted (202), with its kind. */
  onOrderAccepted?: (id: string, kind: OrderKind) => void;
  onProgress?: (message: string) => void;
}

const PAYMENT_TOKENS: Record<OrderKind, string> = {
  visa: 'tok_visa',
  decline: 'tok_decline',
  timeout: 'tok_timeout',
  'out-of-stock': 'tok_visa',
  ship: 'tok_visa',
  'no-carrier': 'tok_visa',
};

/** Where the orders that ship (/api/v2) go. */
const ADDRESSES: Partial<Record<OrderKind, Record<string, string>>> = {
  ship: { name: 'Load Customer', line1: '1 Test Street', city: 'Lyon', postalCode: '69001', country: 'FR' },
  'no-carrier': {
    name: 'Load Customer',
    line1: 'Dome Fuji Station',
    city: 'Dome Fuji',
    postalCode: '0000',
    country: 'AQ',
  },
};
/** Access tokens live 15 minutes by default; sign in again well before. */
const TOKEN_REFRESH_MS = 10 * 60_000;
const MAX_CUSTOMERS = 10_000;
const MAX_KNOWN_PRODUCTS = 1000;
/** How long setup keeps trying while the shop is not there yet (a Deployment may start first). */
const SETUP_PATIENCE_MS = 180_000;

export class SetupError extends Error {
  override name = 'SetupError';
}

export class ShopTraffic {
  readonly #customers: Customer[] = [];
  #plentiful: string[] = [];
  #scarce: string[] = [];
  readonly #known = new Set<string>();
  readonly #cursors: string[] = [];
  readonly #polls = new Set<Promise<void>>();
  readonly #stopPolling = new AbortController();
  readonly #run = randomUUID().slice(0, 8);
  #signups = 0;

  constructor(
    private readonly http: ShopHttp,
    private readonly stats: LoadStats,
    private readonly options: LoadOptions,
    private readonly random: Random,
    private readonly hooks: TrafficHooks = {},
  ) {}

  get pollingOrders(): number {
    return this.#polls.size;
  }

  /** Signs in as admin, creates the run's products and signs up the first customers. */
  async setup(): Promise<void> {
    const progress = this.hooks.onProgress ?? (() => undefined);
    const { options } = this;
    progress(`signing in as ${options.adminEmail} at ${options.baseUrl}`);
    const adminToken = await this.#patiently<string>('admin sign-in', async () => {
      const login = await this.http.call<{ accessToken: string }>('setup', 'POST', '/api/v1/auth/login', {
        body: { email: options.adminEmail, password: options.adminPassword },
        expect: [200],
      });
      return login.status === 200 ? login.body.accessToken : login;
    });

    progress(
      `creating ${options.products} products with plenty of stock and ${options.scarceProducts} with ${options.scarceStock} each`,
    );
    const create = (stock: number, n: number) =>
      this.#patiently<string>('creating a product', async () => {
        const sku = `LOAD-${this.#run}-${stock > options.scarceStock ? 'P' : 'S'}${n}`;
        const created = await this.http.call<{ id: string }>('setup', 'POST', '/api/v1/products', {
          token: adminToken,
          body: {
            sku,
            name: `Load test ${sku}`,
            description: 'made by the load generator',
            priceCents: between(100, 5000, this.random),
            currency: 'EUR',
            initialStock: stock,
          },
          expect: [201],
        });
        return created.status === 201 ? created.body.id : created;
      });
    this.#plentiful = await inBatches(options.products, 4, (n) => create(1_000_000, n));
    this.#scarce = await inBatches(options.scarceProducts, 4, (n) => create(options.scarceStock, n));
    for (const id of [...this.#plentiful, ...this.#scarce]) this.#known.add(id);

    progress(`signing up ${options.customers} customers`);
    await inBatches(options.customers, 4, () =>
      this.#patiently('signing up a customer', () => this.#signUp('setup')),
    );
  }

  /** Retries a setup step while the shop is unavailable or limiting us; fails on anything else. */
  async #patiently<T>(what: string, attempt: () => Promise<T | { status: number }>): Promise<T> {
    const deadline = Date.now() + SETUP_PATIENCE_MS;
    for (;;) {
      const result = await attempt();
      const status = (result as { status?: unknown } | undefined)?.status;
      if (typeof status !== 'number') return result as T;
      const retriable = status === 0 || status === 429 || status >= 500;
      if (!retriable || Date.now() > deadline) {
        const body = (result as CallResult<unknown>).body;
        throw new SetupError(
          `${what} failed: ${status === 0 ? (result as CallResult<unknown>).outcome : status} ${JSON.stringify(body ?? '')}`,
        );
      }
      await sleep(status === 429 ? 5000 : 1000);
    }
  }

  /** Signs the customer in: true, or the answer that refused it. */
  async #signIn(customer: Customer, kind: string): Promise<true | CallResult<unknown>> {
    const login = await this.http.call<{ accessToken: string }>(kind, 'POST', '/api/v1/auth/login', {
      body: { email: customer.email, password: customer.password },
      expect: [200],
    });
    if (login.status !== 200) return login;
    customer.token = login.body.accessToken;
    customer.tokenAt = Date.now();
    return true;
  }

  /** A new customer, signed in; or the answer that stopped it. */
  async #signUp(kind: string): Promise<Customer | CallResult<unknown>> {
    const n = ++this.#signups;
    const customer: Customer = {
      email: `load-${this.#run}-${n}@example.com`,
      password: `pw-${randomUUID()}`,
      tokenAt: 0,
    };
    const registered = await this.http.call(kind, 'POST', '/api/v1/auth/register', {
      body: { email: customer.email, password: customer.password, name: `Load Customer ${n}` },
      expect: [201],
    });
    if (registered.status !== 201) return registered;
    const login = await this.#signIn(customer, kind);
    if (login !== true) return login;
    if (this.#customers.length < MAX_CUSTOMERS) this.#customers.push(customer);
    else this.#customers[Math.floor(this.random() * this.#customers.length)] = customer;
    return customer;
  }

  /** A signed-in customer, signing one in again when its token is getting old. */
  async #customer(): Promise<Customer | undefined> {
    if (this.#customers.length === 0) return undefined;
    const customer = pick(this.#customers, this.random);
    if (!customer.token || Date.now() - customer.tokenAt > TOKEN_REFRESH_MS) {
      if ((await this.#signIn(customer, 'login')) !== true) return undefined;
    }
    return customer;
  }

  /** A 401 means the token went stale (or the gateway forgot it): sign in again for next time. */
  async #afterCall(customer: Customer, result: CallResult<unknown>): Promise<void> {
    if (result.status === 401) {
      customer.token = undefined;
      await this.#signIn(customer, 'login');
    }
  }

  /** One arrival: resolves when its own requests are done (an order's polling goes on). */
  async arrive(kind: ArrivalKind): Promise<void> {
    switch (kind) {
      case 'visa':
      case 'decline':
      case 'timeout':
      case 'out-of-stock':
      case 'ship':
      case 'no-carrier':
        return this.#order(kind);
      case 'browse':
        return this.#browse();
      case 'product':
        return this.#product();
      case 'my-orders':
        return this.#signedInGet('my-orders', '/api/v1/orders?limit=10');
      case 'notifications':
        return this.#signedInGet('notifications', '/api/v1/notifications?limit=10');
      case 'login': {
        const customer = this.#customers.length > 0 ? pick(this.#customers, this.random) : undefined;
        if (customer) await this.#signIn(customer, 'login');
        return;
      }
      case 'signup':
        await this.#signUp('signup');
        return;
    }
  }

  async #browse(): Promise<void> {
    const customer = await this.#customer();
    const cursor =
      this.#cursors.length > 0 && this.random() < 0.3 ? pick(this.#cursors, this.random) : undefined;
    const query = `limit=${between(10, 50, this.random)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await this.http.call<{ items: { id: string }[]; nextCursor: string | null }>(
      'browse',
      'GET',
      `/api/v1/products?${query}`,
      { ...(customer?.token ? { token: customer.token } : {}), expect: [200] },
    );
    if (page.status !== 200) {
      if (customer) await this.#afterCall(customer, page);
      return;
    }
    for (const item of page.body.items) {
      if (this.#known.size < MAX_KNOWN_PRODUCTS) this.#known.add(item.id);
    }
    if (page.body.nextCursor && this.#cursors.length < 100) this.#cursors.push(page.body.nextCursor);
  }

  async #product(): Promise<void> {
    const customer = await this.#customer();
    const id = pick([...this.#known], this.random);
    const result = await this.http.call('product', 'GET', `/api/v1/products/${id}`, {
      ...(customer?.token ? { token: customer.token } : {}),
      expect: [200],
    });
    if (customer) await this.#afterCall(customer, result);
  }

  async #signedInGet(kind: string, path: string): Promise<void> {
    const customer = await this.#customer();
    if (!customer?.token) return;
    await this.#afterCall(
      customer,
      await this.http.call(kind, 'GET', path, { token: customer.token, expect: [200] }),
    );
  }

  #basket(kind: OrderKind): { productId: string; quantity: number }[] {
    if (kind === 'out-of-stock' && this.#scarce.length > 0) {
      return [{ productId: pick(this.#scarce, this.random), quantity: between(1, 2, this.random) }];
    }
    const lines = new Map<string, number>();
    const count = between(1, 3, this.random);
    for (let i = 0; i < count; i++) lines.set(pick(this.#plentiful, this.random), between(1, 3, this.random));
    return [...lines].map(([productId, quantity]) => ({ productId, quantity }));
  }

  async #order(kind: OrderKind): Promise<void> {
    const customer = await this.#customer();
    if (!customer?.token) {
      this.stats.orderPlaced();
      this.stats.orderRejected('network:no-signed-in-customer');
      return;
    }
    this.stats.orderPlaced();
    const started = performance.now();
    const address = ADDRESSES[kind];
    const placed = await this.http.call<OrderView>(
      'order',
      'POST',
      address ? '/api/v2/orders' : '/api/v1/orders',
      {
        token: customer.token,
        body: {
          items: this.#basket(kind),
          payment: { token: PAYMENT_TOKENS[kind] },
          ...(address ? { shippingAddress: address } : {}),
        },
        headers: { 'idempotency-key': randomUUID() },
        expect: [202],
      },
    );
    if (placed.status !== 202) {
      this.stats.orderRejected(placed.outcome);
      await this.#afterCall(customer, placed);
      return;
    }
    this.stats.orderAccepted(kind);
    this.hooks.onOrderAccepted?.(placed.body.id, kind);
    const poll = this.#poll(customer, kind, placed.body.id, started).finally(() => this.#polls.delete(poll));
    this.#polls.add(poll);
  }

  /**
   * Follows an order until it is final. Waiting: each GET carries Prefer: wait=N and the shop
   * answers once the order is final (or after N seconds, and it is asked again); a failed answer is
   * retried after the poll interval. Polling: a GET every poll interval.
   */
  async #poll(customer: Customer, kind: OrderKind, id: string, started: number): Promise<void> {
    const deadline = started + this.options.orderTimeoutMs;
    const signal = this.#stopPolling.signal;
    const waiting = this.options.outcome === 'wait';
    let pause = !waiting;
    while (performance.now() < deadline && !signal.aborted) {
      if (pause) {
        try {
          await sleep(this.options.pollIntervalMs, undefined, { signal });
        } catch {
          break;
        }
      }
      const token = customer.token;
      if (!token) {
        await this.#signIn(customer, 'login');
        pause = true;
        continue;
      }
      const seconds = Math.ceil(
        Math.min(deadline - performance.now(), this.options.requestTimeoutMs - 1000) / 1000,
      );
      const result = await this.http.call<OrderView>(
        waiting ? 'wait' : 'poll',
        'GET',
        `/api/v1/orders/${id}`,
        {
          token,
          expect: [200],
          ...(waiting ? { headers: { prefer: `wait=${Math.max(1, seconds)}` } } : {}),
        },
      );
      if (result.status === 200 && result.body.status !== 'PENDING') {
        const final =
          result.body.status === 'CONFIRMED' ? 'CONFIRMED' : `CANCELLED:${result.body.cancellationReason}`;
        this.stats.orderFinished(kind, final, performance.now() - started);
        return;
      }
      await this.#afterCall(customer, result);
      pause = !waiting || result.status !== 200;
    }
    this.stats.orderUnfinished();
  }

  /** Waits up to `ms` for the orders still being polled; the rest are counted unfinished. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#polls.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.#polls]), sleep(Math.max(0, deadline - Date.now()))]);
    }
    this.#stopPolling.abort();
    await Promise.allSettled([...this.#polls]);
  }
}

/** `count` calls of `work(n)`, at most `width` at a time, results in order. */
async function inBatches<T>(count: number, width: number, work: (n: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += width) {
    const batch = Array.from({ length: Math.min(width, count - start) }, (_, i) => work(start + i + 1));
    results.push(...(await Promise.all(batch)));
  }
  return results;
}
