// What an OpenTelemetry collector's OTLP/HTTP receiver would be, for the
// benchmarks: a real HTTP server on 127.0.0.1 that accepts every export and
// counts it, so a process exports as it would in production without a
// collector's own cost in the measurement.
import { createServer, type Server } from 'node:http';
import { freePort } from './proc.js';

/** What an OpenTelemetry collector's OTLP/HTTP receiver would be: accepts every export, counts it. */
export async function otlpReceiver(): Promise<{
  server: Server;
  url: string;
  stats: () => { requests: number; bytes: number };
}> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    request.on('end', () => {
      requests++;
      // An empty ExportTraceServiceResponse is a zero-length protobuf message.
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${port}`, stats: () => ({ requests, bytes }) };
}
