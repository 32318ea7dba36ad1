// What a run does, from the command line and the environment (LOAD_*), so the
// same binary runs from a terminal, `make load`, a script or a Deployment.
import { parseArgs } from 'node:util';
import type { ArrivalProcess } from './schedule.js';

/** What an order is meant to test; its payment token or its basket follows from it. */
export const orderKinds = ['visa', 'decline', 'timeout', 'out-of-stock', 'ship', 'no-carrier'] as const;
export type OrderKind = (typeof orderKinds)[number];

/** Traffic around the orders, as requests per order placed. */
export const otherKinds = ['browse', 'product', 'my-orders', 'notifications', 'login', 'signup'] as const;
export type OtherKind = (typeof otherKinds)[number];

export type ArrivalKind = OrderKind | OtherKind;

export const DEFAULT_ORDER_MIX = 'visa=50,ship=35,decline=8,timeout=2,out-of-stock=4,no-carrier=1';
export const DEFAULT_MIX = 'browse=2,product=3,my-orders=0.3,notifications=0.2,login=0.1,signup=0.05';

export interface LoadOptions {
  baseUrl: string;
  /** Orders placed per second; the rest of the traffic is proportional (see `mix`). */
  ordersPerSecond: number;
  /** 0: until stopped (SIGINT/SIGTERM). */
  durationMs: number;
  /** Shares of the order rate, normalised to sum to 1. */
  orderMix: Map<OrderKind, number>;
  /** Requests of each other kind per order placed. */
  mix: Map<OtherKind, number>;
  adminEmail: string;
  adminPassword: string;
  output: 'text' | 'json';
  intervalMs: number;
  arrivals: ArrivalProcess;
  /** HTTP connections to the gateway. */
  connections: number;
  maxInFlight: number;
  lateAfterMs: number;
  maxLagMs: number;
  customers: number;
  products: number;
  scarceProducts: number;
  scarceStock: number;
  /** How an order's outcome is learned: long-poll (GET with Prefer: wait), or polling. */
  outcome: 'wait' | 'poll';
  pollIntervalMs: number;
  orderTimeoutMs: number;
  /** After the last arrival, how long orders still being polled may take to finish. */
  drainMs: number;
  requestTimeoutMs: number;
  seed: number;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `90s`, `5m`, `1h30m`, `250ms`, or plain seconds. */
export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new UsageError(`--${flag}: "${text}" is not a duration (write 90s, 5m, 1h30m or 250ms)`);
  }
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2]!] ?? 0), 0));
}

/** `name=weight,...` over the allowed names; a name left out gets 0. */
export function parseWeights<K extends string>(
  text: string,
  allowed: readonly K[],
  flag: string,
): Map<K, number> {
  const weights = new Map<K, number>(allowed.map((key) => [key, 0]));
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const match = /^([a-z-]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!match) throw new UsageError(`--${flag}: "${part}" is not name=number`);
    const [, name, value] = match;
    if (!allowed.includes(name as K)) {
      throw new UsageError(`--${flag}: unknown "${name}"; known: ${allowed.join(', ')}`);
    }
    weights.set(name as K, Number(value));
  }
  return weights;
}

function number(text: string, flag: string, { min = 0, integer = false } = {}): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${flag}: "${text}" must be ${integer ? 'a whole number' : 'a number'} >= ${min}`);
  }
  return value;
}

const flags = {
  'base-url': { type: 'string', env: 'LOAD_BASE_URL', default: 'http://127.0.0.1:8080' },
  rate: { type: 'string', env: 'LOAD_RATE', default: '5' },
  duration: { type: 'string', env: 'LOAD_DURATION', default: '60s' },
  mix: { type: 'string', env: 'LOAD_MIX', default: DEFAULT_MIX },
  'order-mix': { type: 'string', env: 'LOAD_ORDER_MIX', default: DEFAULT_ORDER_MIX },
  'admin-email': { type: 'string', env: 'LOAD_ADMIN_EMAIL', default: 'admin@shop.local' },
  'admin-password': { type: 'string', env: 'LOAD_ADMIN_PASSWORD', default: 'admin-password-change-me' },
  output: { type: 'string', env: 'LOAD_OUTPUT', default: 'text' },
  interval: { type: 'string', env: 'LOAD_INTERVAL', default: '2s' },
  arrivals: { type: 'string', env: 'LOAD_ARRIVALS', default: 'poisson' },
  connections: { type: 'string', env: 'LOAD_CONNECTIONS', default: '64' },
  'max-in-flight': { type: 'string', env: 'LOAD_MAX_IN_FLIGHT', default: '1000' },
  'late-after': { type: 'string', env: 'LOAD_LATE_AFTER', default: '100ms' },
  'max-lag': { type: 'string', env: 'LOAD_MAX_LAG', default: '2s' },
  customers: { type: 'string', env: 'LOAD_CUSTOMERS', default: '' },
  products: { type: 'string', env: 'LOAD_PRODUCTS', default: '20' },
  'scarce-products': { type: 'string', env: 'LOAD_SCARCE_PRODUCTS', default: '5' },
  'scarce-stock': { type: 'string', env: 'LOAD_SCARCE_STOCK', default: '3' },
  outcome: { type: 'string', env: 'LOAD_OUTCOME', default: 'wait' },
  'poll-interval': { type: 'string', env: 'LOAD_POLL_INTERVAL', default: '500ms' },
  'order-timeout': { type: 'string', env: 'LOAD_ORDER_TIMEOUT', default: '120s' },
  drain: { type: 'string', env: 'LOAD_DRAIN', default: '60s' },
  'request-timeout': { type: 'string', env: 'LOAD_REQUEST_TIMEOUT', default: '30s' },
  seed: { type: 'string', env: 'LOAD_SEED', default: '' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const HELP = `shop load generator: realistic traffic through the gateway at a fixed arrival rate

Open model: requests start on a schedule set by --rate, however slowly the shop
answers; requests that cannot start on time are counted (late, dropped), never
silently delayed. --rate is in ORDERS per second; the other traffic is
proportional to it (--mix, requests per order). Every order is followed until it
is CONFIRMED or CANCELLED: by default with GET /orders/:id and Prefer: wait=N,
which the shop answers once the order is final (--outcome poll polls instead).

Usage: npm run load -w tools/load -- [options]      (or: make load LOAD_FLAGS="...")

  --base-url URL          the gateway (http://127.0.0.1:8080)                LOAD_BASE_URL
  --rate N                orders placed per second (5)                        LOAD_RATE
  --duration D            how long to send: 90s, 5m, 1h; 0 = until stopped (60s)  LOAD_DURATION
  --order-mix K=W,...     kinds of orders, shares of --rate                   LOAD_ORDER_MIX
                          (${DEFAULT_ORDER_MIX})
                          visa: tok_visa; decline: tok_decline; timeout: tok_timeout
                          (the provider never answers); out-of-stock: products with tiny stock;
                          ship: tok_visa through /api/v2 with an address; no-carrier: /api/v2
                          with an address in Antarctica, which no carrier serves
  --mix K=W,...           other requests per order placed                     LOAD_MIX
                          (${DEFAULT_MIX})
                          browse: GET /products; product: GET /products/:id; my-orders: GET /orders;
                          notifications: GET /notifications; login; signup (register + login)
  --admin-email E         creates the run's products (admin@shop.local)       LOAD_ADMIN_EMAIL
  --admin-password P      (admin-password-change-me)                          LOAD_ADMIN_PASSWORD
  --output text|json      json: the final summary as JSON on stdout, progress on stderr (text)
  --interval D            live line every D (2s)
  --arrivals poisson|constant   inter-arrival times (poisson)
  --connections N         keep-alive connections to the gateway (64)
  --max-in-flight N       arrivals outstanding before new ones are dropped (1000)
  --late-after D          an arrival started later than this is late (100ms)
  --max-lag D             an arrival that cannot start within this is dropped (2s)
  --customers N           customers signed up at the start (max(10, 5 x rate))
  --products N            products with plenty of stock (20)
  --scarce-products N     products with tiny stock, for out-of-stock orders (5)
  --scarce-stock N        stock of each of those (3)
  --outcome wait|poll     learn each order's outcome by long-poll (Prefer: wait) or by polling (wait)  LOAD_OUTCOME
  --poll-interval D       between GET /orders/:id of one order when polling, or after a failed wait (500ms)
  --order-timeout D       an order not final by then is "unfinished" (120s)
  --drain D               after the last arrival, wait this long for orders to finish (60s)
  --request-timeout D     per HTTP request (30s)
  --seed N                random seed, to repeat a run's choices

Rate limits: the gateway limits sign-ins per IP (AUTH_RATE_LIMIT_PER_MINUTE, 10
in production) and requests per user; raise them for a load test, or keep login
and signup low. 429s are reported as errors.

Examples:
  make load LOAD_FLAGS="--rate 20 --duration 2m"
  npm run load -w tools/load -- --base-url http://127.0.0.1:8080 --rate 5 --duration 30s --output json
`;

export type ParsedArgs = { help: true } | { help: false; options: LoadOptions };

export function parseLoadArgs(argv: string[], env: Record<string, string | undefined> = {}): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(flags).map(([name, flag]) => [
          name,
          { type: flag.type, ...('short' in flag ? { short: flag.short } : {}) },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const value = (name: Exclude<keyof typeof flags, 'help'>): string => {
    const given = values[name];
    if (typeof given === 'string') return given;
    const flag = flags[name];
    return env[flag.env] ?? flag.default;
  };

  const ordersPerSecond = number(value('rate'), 'rate');
  if (ordersPerSecond <= 0) throw new UsageError('--rate must be above 0');
  const orderMix = parseWeights(value('order-mix'), orderKinds, 'order-mix');
  const orderTotal = [...orderMix.values()].reduce((a, b) => a + b, 0);
  if (orderTotal <= 0) throw new UsageError('--order-mix: give at least one kind a weight above 0');
  for (const [kind, weight] of orderMix) orderMix.set(kind, weight / orderTotal);
  const output = value('output');
  if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
  const arrivals = value('arrivals');
  if (arrivals !== 'poisson' && arrivals !== 'constant') {
    throw new UsageError('--arrivals must be poisson or constant');
  }
  const outcome = value('outcome');
  if (outcome !== 'wait' && outcome !== 'poll') throw new UsageError('--outcome must be wait or poll');
  const baseUrl = value('base-url').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(baseUrl)) {
    throw new UsageError(`--base-url: "${baseUrl}" is not an origin like http://127.0.0.1:8080`);
  }
  const duration = value('duration').trim();
  const customers = value('customers');
  const seed = value('seed');
  return {
    help: false,
    options: {
      baseUrl,
      ordersPerSecond,
      durationMs: duration === 'forever' ? 0 : parseDuration(duration, 'duration'),
      orderMix,
      mix: parseWeights(value('mix'), otherKinds, 'mix'),
      adminEmail: value('admin-email'),
      adminPassword: value('admin-password'),
      output,
      intervalMs: Math.max(100, parseDuration(value('interval'), 'interval')),
      arrivals,
      connections: number(value('connections'), 'connections', { min: 1, integer: true }),
      maxInFlight: number(value('max-in-flight'), 'max-in-flight', { min: 1, integer: true }),
      lateAfterMs: parseDuration(value('late-after'), 'late-after'),
      maxLagMs: parseDuration(value('max-lag'), 'max-lag'),
      customers:
        customers === ''
          ? Math.max(10, Math.ceil(ordersPerSecond * 5))
          : number(customers, 'customers', { min: 1, integer: true }),
      products: number(value('products'), 'products', { min: 1, integer: true }),
      scarceProducts: number(value('scarce-products'), 'scarce-products', { integer: true }),
      scarceStock: number(value('scarce-stock'), 'scarce-stock', { integer: true }),
      outcome,
      pollIntervalMs: Math.max(50, parseDuration(value('poll-interval'), 'poll-interval')),
      orderTimeoutMs: parseDuration(value('order-timeout'), 'order-timeout'),
      drainMs: parseDuration(value('drain'), 'drain'),
      requestTimeoutMs: Math.max(100, parseDuration(value('request-timeout'), 'request-timeout')),
      seed: seed === '' ? Math.floor(Math.random() * 2 ** 31) : number(seed, 'seed', { integer: true }),
    },
  };
}

/** Defaults for a run started from code (tests, chaos): the CLI's defaults, overridden. */
export function loadOptions(overrides: Partial<LoadOptions> & { baseUrl: string }): LoadOptions {
  const parsed = parseLoadArgs([]);
  if (parsed.help) throw new Error('unreachable');
  const options = { ...parsed.options, ...overrides };
  if (overrides.ordersPerSecond !== undefined && overrides.customers === undefined) {
    options.customers = Math.max(10, Math.ceil(overrides.ordersPerSecond * 5));
  }
  return options;
}

/** Arrival rates per kind (per second), from the order rate and the mixes. */
export function arrivalRates(options: Pick<LoadOptions, 'ordersPerSecond' | 'orderMix' | 'mix'>) {
  const rates: [ArrivalKind, number][] = [
    ...[...options.orderMix].map(
      ([kind, share]) => [kind, options.ordersPerSecond * share] as [ArrivalKind, number],
    ),
    ...[...options.mix].map(
      ([kind, perOrder]) => [kind, options.ordersPerSecond * perOrder] as [ArrivalKind, number],
    ),
  ];
  return rates.filter(([, rate]) => rate > 0);
}
