// Loopback HTTP servers for the --check-url tests: the only HTTP the tests make.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CheckServer {
  url: string;
  requests: number;
  close: () => Promise<void>;
}

export async function checkServer(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void | Promise<void>,
): Promise<CheckServer> {
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    state.requests += 1;
    void handler(req, res, state.requests);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/healthz`,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function answer(status: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(String(status));
  };
}
