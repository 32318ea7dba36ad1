// The stack of the original design notes, as a baseline for the gateway:
// Express 5 with http-proxy-middleware 3 forwarding /api to one upstream over a
// keep-alive agent (without keep-alive it would be slower still). Nothing else:
// no auth, no rate limit, no tracing, no access log.
import { Agent } from 'node:http';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const target = process.env.UPSTREAM_URL;
if (!target) throw new Error('UPSTREAM_URL is required');

const app = express();
app.disable('x-powered-by');
app.use(
  createProxyMiddleware({
    target,
    pathFilter: '/api',
    agent: new Agent({ keepAlive: true, maxSockets: 128 }),
  }),
);
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
