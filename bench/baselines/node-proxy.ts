// The floor of the HTTP comparison: the least a proxy written in Node does per
// request. node:http takes the request, one undici dispatch on a keep-alive
// pool forwards it, the answer is written back as it arrives. No routing, no
// header policy, no log, no metrics: what no Node gateway can go below on the
// same machine, so the gateway's figures can be read against it.
import { createServer } from 'node:http';
import { type Dispatcher, Pool } from 'undici';

const target = process.env.UPSTREAM_URL;
if (!target) throw new Error('UPSTREAM_URL is required');
const pool = new Pool(target, { connections: 128, pipelining: 1 });

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding'];

const server = createServer((request, response) => {
  pool.dispatch(
    {
      method: request.method as Dispatcher.HttpMethod,
      path: request.url ?? '/',
      headers: request.headers as Record<string, string>,
    },
    {
      // (undici tells its handler interfaces apart by this method.)
      onRequestStart() {},
      onResponseStart(_controller, status, headers) {
        for (const name of HOP_BY_HOP) delete headers[name];
        response.writeHead(status, headers as Record<string, string>);
      },
      onResponseData(_controller, chunk) {
        response.write(chunk);
      },
      onResponseEnd() {
        response.end();
      },
      onResponseError(_controller, error) {
        response.writeHead(502).end(error.message);
      },
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
