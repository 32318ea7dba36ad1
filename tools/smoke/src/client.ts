// A small client of the public API, as a customer's app would use it. Only
// fetch: the suite must run anywhere Node runs (a laptop, CI, a helm test pod).
import { randomUUID } from 'node:crypto';

export interface SmokeConfig {
  baseUrl: string;
  adminEmail: string;
  adminPassword: string;
  /** The payments service itself, for its /metrics (circuit breaker); optional. */
  paymentsUrl?: string;
  /** How long an order may take to reach CONFIRMED or CANCELLED. */
  orderTimeoutMs: number;
}

export function configFromEnv(env = process.env): SmokeConfig {
  return {
    baseUrl: (env.SMOKE_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    adminEmail: env.SMOKE_ADMIN_EMAIL ?? env.SEED_ADMIN_EMAIL ?? 'admin@shop.local',
    adminPassword: env.SMOKE_ADMIN_PASSWORD ?? env.SEED_ADMIN_PASSWORD ?? 'admin-password-change-me',
    ...(env.SMOKE_PAYMENTS_URL ? { paymentsUrl: env.SMOKE_PAYMENTS_URL.replace(/\/$/, '') } : {}),
    orderTimeoutMs: Number(env.SMOKE_ORDER_TIMEOUT_MS ?? 60_000),
  };
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Order {
  id: string;
  userId: string;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
  items: { productId: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  currency: string;
  cancellationReason: string | null;
  /** /api/v2 only. */
  shippingAddress?: ShippingAddress | null;
  shipment?: { status: 'SCHEDULED' | 'CANCELLED'; carrier: string; trackingId: string } | null;
}

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface Product {
  id: string;
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  available: number;
}

export class ShopClient {
  constructor(
    readonly config: SmokeConfig,
    private token?: string,
  ) {}

  async call<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; raw?: string; token?: string | null } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === null ? undefined : (options.token ?? this.token);
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(options.body);
    }
    const response = await fetch(this.config.baseUrl + path, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  /** A new customer, signed in. */
  static async signUp(config: SmokeConfig, name = 'Smoke Tester'): Promise<ShopClient & { email: string }> {
    const email = `smoke-${randomUUID()}@example.com`;
    const password = `pw-${randomUUID()}`;
    const anonymous = new ShopClient(config);
    const registered = await anonymous.call('POST', '/api/v1/auth/register', {
      body: { email, password, name },
    });
    if (registered.status !== 201)
      throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
    const client = await ShopClient.signIn(config, email, password);
    return Object.assign(client, { email });
  }

  static async signIn(config: SmokeConfig, email: string, password: string): Promise<ShopClient> {
    const login = await new ShopClient(config).call<{ accessToken: string }>('POST', '/api/v1/auth/login', {
      body: { email, password },
    });
    if (login.status !== 200)
      throw new Error(`login of ${email} answered ${login.status}: ${JSON.stringify(login.body)}`);
    return new ShopClient(config, login.body.accessToken);
  }

  static admin(config: SmokeConfig): Promise<ShopClient> {
    return ShopClient.signIn(config, config.adminEmail, config.adminPassword);
  }

  async createProduct(initialStock: number, priceCents = 1000): Promise<Product> {
    const sku = `SMOKE-${randomUUID()}`;
    const created = await this.call<Product>('POST', '/api/v1/products', {
      body: {
        sku,
        name: `Smoke ${sku}`,
        description: 'made by the smoke suite',
        priceCents,
        currency: 'EUR',
        initialStock,
      },
    });
    if (created.status !== 201)
      throw new Error(`creating a product answered ${created.status}: ${JSON.stringify(created.body)}`);
    return created.body;
  }

  async product(id: string): Promise<Product> {
    return (await this.call<Product>('GET', `/api/v1/products/${id}`)).body;
  }

  /**
   * Places an order as a careful client does: with an Idempotency-Key, and retrying
   * with the same key when the gateway answers 502, 503 or 504 (the order may or
   * may not have been taken; the key makes the retry return the same order).
   * Through /api/v1, or through /api/v2 when it has a shipping address.
   */
  async placeOrder(
    items: { productId: string; quantity: number }[],
    token: string,
    key: string = randomUUID(),
    shippingAddress?: ShippingAddress,
  ) {
    const attempts = 4;
    const path = shippingAddress ? '/api/v2/orders' : '/api/v1/orders';
    for (let attempt = 1; ; attempt++) {
      const response = await this.call<Order>('POST', path, {
        body: { items, payment: { token }, ...(shippingAddress ? { shippingAddress } : {}) },
        headers: { 'idempotency-key': key },
      });
      if (![502, 503, 504].includes(response.status) || attempt === attempts) return response;
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
    }
  }

  /**
   * Waits for the order's final state without polling: GET with `Prefer: wait=N` answers once the
   * order is final, or after N seconds (the server may cap N) with it still PENDING, and is asked again.
   */
  async finalOrder(id: string, version: 'v1' | 'v2' = 'v1'): Promise<Order> {
    const deadline = Date.now() + this.config.orderTimeoutMs;
    let order: Order | undefined;
    while (Date.now() < deadline) {
      const wait = Math.max(1, Math.min(20, Math.ceil((deadline - Date.now()) / 1000)));
      const response = await this.call<Order>('GET', `/api/${version}/orders/${id}`, {
        headers: { prefer: `wait=${wait}` },
      });
      if (response.status !== 200) throw new Error(`GET order ${id} answered ${response.status}`);
      order = response.body;
      if (order.status !== 'PENDING') return order;
    }
    throw new Error(`order ${id} still ${order?.status} after ${this.config.orderTimeoutMs} ms`);
  }

  /** Polls until `probe` returns a value, or fails with `what`. */
  async eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }
}
