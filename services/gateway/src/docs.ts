// The aggregated OpenAPI document at /openapi.json and Swagger UI at /docs
// (its assets ship in @fastify/swagger-ui, so the page works offline).
// @fastify/swagger only stands in as the document holder Swagger UI requires;
// the document it shows is the aggregator's.
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { HelmetOptions } from 'helmet';
import type { OpenApiAggregator, OpenApiDocument } from './openapi.js';

export interface DocsOptions {
  aggregator: OpenApiAggregator;
  info: OpenApiDocument['info'];
  swaggerUi: boolean;
  helmet: HelmetOptions;
}

export async function docsRoutes(scope: FastifyInstance, options: DocsOptions): Promise<void> {
  const { aggregator } = options;
  scope.get('/openapi.json', { schema: { hide: true }, logLevel: 'warn' }, async () => aggregator.document());

  if (!options.swaggerUi) return;
  // (helmet's ESM and CommonJS typings declare the same options as distinct types.)
  await scope.register(fastifyHelmet, options.helmet as FastifyHelmetOptions);
  const placeholder: OpenApiDocument = { openapi: '3.1.0', info: options.info, paths: {} };
  // (`as never`: @fastify/swagger types a 3.0 document; this one is 3.1.)
  await scope.register(fastifySwagger, { mode: 'static', specification: { document: placeholder as never } });
  await scope.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, persistAuthorization: false, tryItOutEnabled: false },
    // The page fetches /docs/json; refresh the aggregate before it is read.
    uiHooks: {
      onRequest: async () => {
        await aggregator.document();
      },
    },
    transformSpecification: () => aggregator.current() ?? placeholder,
    transformSpecificationClone: false,
  });
}
