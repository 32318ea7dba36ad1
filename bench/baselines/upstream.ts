// The upstream of the HTTP comparison: plain node:http answering every request
// with the same small JSON document, as cheap as a Node server gets, so what
// is measured in front of it is the proxy.
import { createServer } from 'node:http';

const body = JSON.stringify({
  id: '6f1c2a8e-3b7d-4c52-9a0e-2d4b8f61c7a3',
  sku: 'BENCH-1',
  name: 'Benchmark product',
  priceCents: 1999,
  currency: 'EUR',
  available: 42,
});
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };

const server = createServer((request, response) => {
  // Drain a body if one came, then answer.
  request.resume();
  request.on('end', () => response.writeHead(200, headers).end(body));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
