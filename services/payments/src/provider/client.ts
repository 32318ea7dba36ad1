// The card provider's API as this service uses it, over the platform's
// ServiceClient: a deadline per attempt, retries (safe, since every mutation
// carries an Idempotency-Key and lookups are GETs), and one circuit breaker, whose
// state and call outcomes land in the app's /metrics. Answers come back as the
// outcomes in domain/provider-outcome.ts; anything the provider says that this
// code does not understand counts as "unavailable", never as success.
import {
  type Logger,
  type Registry,
  ServiceClient,
  UpstreamError,
  type UpstreamResponse,
} from '@shop/platform';
import { z } from 'zod';
import {
  type AuthorizationOutcome,
  idempotencyKey,
  type LookupOutcome,
  type OperationOutcome,
  type ProviderAuthorization,
  type ProviderOperation,
  type Unavailable,
} from '../domain/provider-outcome.js';
import { PROVIDER_BACKOFF } from './budget.js';

export const PROVIDER_UPSTREAM = 'payment-provider';

const authorization = z.object({
  id: z.string().min(1),
  status: z.enum(['authorized', 'captured', 'voided', 'refunded']),
  amountCents: z.int(),
  currency: z.string(),
  reference: z.string().nullable(),
  captures: z.int().nonnegative(),
});
const authorizationList = z.object({ items: z.array(authorization) });
const providerError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export interface ProviderSettings {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retries: number;
  /** Opossum settings; the ServiceClient's defaults (50 % errors over ≥ 5 calls in 10 s, 5 s open) otherwise. */
  breaker?: ConstructorParameters<typeof ServiceClient>[0]['breaker'];
  metrics?: Registry;
  logger: Logger;
}

export interface AuthorizationRequest {
  orderId: string;
  amountCents: number;
  currency: string;
  token: string;
}

export class PaymentProvider {
  readonly #client: ServiceClient;
  readonly #apiKey: string;
  readonly #log: Logger;

  constructor(settings: ProviderSettings) {
    this.#apiKey = settings.apiKey;
    this.#log = settings.logger.child({ component: 'payment-provider-client' });
    this.#client = new ServiceClient({
      upstream: PROVIDER_UPSTREAM,
      baseUrl: settings.baseUrl,
      timeoutMs: settings.timeoutMs,
      retries: settings.retries,
      backoff: PROVIDER_BACKOFF,
      logger: settings.logger,
      ...(settings.breaker ? { breaker: settings.breaker } : {}),
      ...(settings.metrics ? { metrics: settings.metrics } : {}),
    });
  }

  /** For readiness detail: the breaker's state, never a failure. */
  readonly describe = () => this.#client.describe();

  get breakerState() {
    return this.#client.breakerState;
  }

  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    const { orderId, amountCents, currency, token } = request;
    const response = await this.#send('POST', '/v1/authorizations', {
      idempotencyKey: idempotencyKey(orderId, 'authorize'),
      // The order id as reference is what lets a compensation find an authorization whose answer was lost.
      body: { amountCents, currency, token, reference: orderId },
    });
    if ('kind' in response) return response;
    if (response.status === 200 || response.status === 201) {
      const approved = authorizationIn(response);
      return approved
        ? { kind: 'approved', authorization: approved }
        : this.#unexpected('authorize', response);
    }
    const code = errorCode(response);
    if (response.status === 402 || (response.status === 400 && code === 'invalid_token')) {
      return { kind: 'declined', code: code ?? String(response.status) };
    }
    return this.#unexpected('authorize', response);
  }

  capture(orderId: string, authorizationId: string): Promise<OperationOutcome> {
    return this.#operate('capture', orderId, authorizationId);
  }

  void(orderId: string, authorizationId: string): Promise<OperationOutcome> {
    return this.#operate('void', orderId, authorizationId);
  }

  refund(orderId: string, authorizationId: string): Promise<OperationOutcome> {
    return this.#operate('refund', orderId, authorizationId);
  }

  /** Every authorization the provider holds for the order (found by the reference sent when authorizing). */
  async lookup(orderId: string): Promise<LookupOutcome> {
    const response = await this.#send('GET', `/v1/authorizations?reference=${encodeURIComponent(orderId)}`);
    if ('kind' in response) return response;
    const list = response.status === 200 ? authorizationList.safeParse(response.body) : undefined;
    if (!list?.success) return this.#unexpected('lookup', response);
    return { kind: 'found', authorizations: list.data.items.map(({ id, status }) => ({ id, status })) };
  }

  /** One authorization by id; none when the provider does not know it. */
  async fetch(authorizationId: string): Promise<LookupOutcome> {
    const response = await this.#send('GET', `/v1/authorizations/${encodeURIComponent(authorizationId)}`);
    if ('kind' in response) return response;
    if (response.status === 404) return { kind: 'found', authorizations: [] };
    const found = response.status === 200 ? authorizationIn(response) : undefined;
    return found ? { kind: 'found', authorizations: [found] } : this.#unexpected('fetch', response);
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  async #operate(
    operation: Exclude<ProviderOperation, 'authorize'>,
    orderId: string,
    authorizationId: string,
  ): Promise<OperationOutcome> {
    const response = await this.#send(
      'POST',
      `/v1/authorizations/${encodeURIComponent(authorizationId)}/${operation}`,
      { idempotencyKey: idempotencyKey(orderId, operation) },
    );
    if ('kind' in response) return response;
    if (response.status === 200) {
      const done = authorizationIn(response);
      return done ? { kind: 'done', authorization: done } : this.#unexpected(operation, response);
    }
    if (response.status === 409 || response.status === 404) {
      return { kind: 'refused', code: errorCode(response) ?? String(response.status) };
    }
    return this.#unexpected(operation, response);
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    options: { idempotencyKey?: string; body?: unknown } = {},
  ): Promise<UpstreamResponse | Unavailable> {
    try {
      return await this.#client.request({
        method,
        path,
        headers: { authorization: `Bearer ${this.#apiKey}` },
        ...options,
      });
    } catch (error) {
      if (error instanceof UpstreamError) return { kind: 'unavailable', reason: error.failure };
      throw error;
    }
  }

  #unexpected(operation: string, response: UpstreamResponse): Unavailable {
    // A 401 (wrong API key), 422 (a key reused with other parameters) or a body
    // that is not what the API promises: someone must look, and until then the
    // outcome is treated as unknown, which is the safe side.
    this.#log.error(
      { operation, status: response.status, body: response.body },
      'the payment provider gave an answer this service does not understand',
    );
    return { kind: 'unavailable', reason: `unexpected ${response.status}` };
  }
}

function authorizationIn(response: UpstreamResponse): ProviderAuthorization | undefined {
  const parsed = authorization.safeParse(response.body);
  return parsed.success ? { id: parsed.data.id, status: parsed.data.status } : undefined;
}

function errorCode(response: UpstreamResponse): string | undefined {
  const parsed = providerError.safeParse(response.body);
  return parsed.success ? parsed.data.error.code : undefined;
}
