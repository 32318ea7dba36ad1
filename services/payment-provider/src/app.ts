// The payment provider simulator: an HTTP API shaped like a card processor's
// (authorize, capture, void, refund, each replayable by Idempotency-Key) with
// deterministic test tokens, so every payment path can be exercised for real:
//   tok_visa approves, tok_decline declines, tok_timeout never answers,
//   tok_error answers 500.
import { createHash } from 'node:crypto';
import { createServer, type Logger, Problem } from '@shop/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Authorization, Ledger } from './ledger.js';

export interface ProviderOptions {
  logger: Logger;
  apiKey: string;
  ledger?: Ledger;
  /** Added to every answer, to look like a remote service. */
  latencyMs?: number;
}

const authorizationRequest = z.object({
  amountCents: z.int().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  token: z.string().min(1).max(200),
  reference: z.string().max(200).optional(),
});
const idParams = z.object({ id: z.string().min(1).max(100) });
const idempotencyHeaders = z.object({ 'idempotency-key': z.string().min(1).max(200) });

const providerError = (status: number, code: string, message: string) => ({
  status,
  body: { error: { code, message } },
});

export function buildProvider(options: ProviderOptions) {
  const ledger = options.ledger ?? new Ledger();
  const app = createServer({ name: 'payment-provider', logger: options.logger });
  const hanging = new Set<FastifyReply>();

  app.addHook('onRequest', async (request) => {
    if (/^\/(health|metrics)/.test(request.url)) return;
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) {
      throw new Problem(401, 'unauthorized', 'Provide the API key as a Bearer token.');
    }
  });
  if (options.latencyMs) {
    app.addHook('preHandler', async () => new Promise((resolve) => setTimeout(resolve, options.latencyMs)));
  }
  // A request left hanging by tok_timeout must not keep the server from closing.
  app.addHook('onClose', async () => {
    for (const reply of hanging) reply.raw.destroy();
  });

  /** Runs an operation once per Idempotency-Key; a repeat gets the stored answer. */
  async function once(
    request: FastifyRequest,
    reply: FastifyReply,
    operation: () => { status: number; body: unknown } | 'hang',
  ) {
    const key = String(request.headers['idempotency-key']);
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.url} ${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const previous = ledger.replay(key);
    if (previous) {
      if (previous.fingerprint !== fingerprint) {
        const error = providerError(
          422,
          'idempotency_key_reused',
          'This key was used with different parameters.',
        );
        return reply.code(error.status).send(error.body);
      }
      return reply.code(previous.status).header('idempotent-replayed', 'true').send(previous.body);
    }
    const outcome = operation();
    if (outcome === 'hang') {
      hanging.add(reply);
      reply.raw.on('close', () => hanging.delete(reply));
      return reply.hijack();
    }
    // Server errors are not remembered: the same key may be retried and succeed.
    if (outcome.status < 500) ledger.remember(key, { fingerprint, ...outcome });
    return reply.code(outcome.status).send(outcome.body);
  }

  function find(id: string): Authorization {
    const authorization = ledger.authorizations.get(id);
    if (!authorization) throw new Problem(404, 'not-found', `No authorization ${id}.`);
    return authorization;
  }

  app.post(
    '/v1/authorizations',
    { schema: { body: authorizationRequest, headers: idempotencyHeaders } },
    async (request, reply) =>
      once(request, reply, () => {
        const { amountCents, currency, token, reference } = request.body;
        switch (token) {
          case 'tok_timeout':
            return 'hang';
          case 'tok_error':
            return providerError(500, 'processing_error', 'The card network failed; try again.');
          case 'tok_decline':
            return providerError(402, 'card_declined', 'The card was declined.');
          case 'tok_visa':
            return { status: 201, body: ledger.authorize(amountCents, currency, reference ?? null) };
          default:
            return providerError(400, 'invalid_token', `Unknown card token ${token}.`);
        }
      }),
  );

  const transition = (from: Authorization['status'], to: Authorization['status'], verb: string) =>
    async function handle(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
      return once(request, reply, () => {
        const authorization = find(request.params.id);
        if (authorization.status === to) return { status: 200, body: authorization };
        if (authorization.status !== from) {
          return providerError(
            409,
            'invalid_state',
            `Cannot ${verb} an authorization that is ${authorization.status}.`,
          );
        }
        const next = {
          ...authorization,
          status: to,
          captures: authorization.captures + (to === 'captured' ? 1 : 0),
        };
        ledger.save(next);
        return { status: 200, body: next };
      });
    };

  const mutation = { schema: { params: idParams, headers: idempotencyHeaders } };
  app.post('/v1/authorizations/:id/capture', mutation, transition('authorized', 'captured', 'capture'));
  app.post('/v1/authorizations/:id/void', mutation, transition('authorized', 'voided', 'void'));
  app.post('/v1/authorizations/:id/refund', mutation, transition('captured', 'refunded', 'refund'));

  app.get('/v1/authorizations/:id', { schema: { params: idParams } }, async (request) =>
    find(request.params.id),
  );

  app.get(
    '/v1/authorizations',
    { schema: { querystring: z.object({ reference: z.string().optional() }) } },
    async (request) => ({
      items: [...ledger.authorizations.values()].filter(
        (a) => request.query.reference === undefined || a.reference === request.query.reference,
      ),
    }),
  );

  return app;
}
