// Real service processes: start-up with a bad config, and a graceful stop on SIGTERM.
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, runTs } from '@shop/testkit';
import { describe, expect, it } from 'vitest';

const fixture = join(import.meta.dirname, 'fixtures/slow-service.ts');
const secret = 'x'.repeat(40);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The fixture service on a free port, once it listens. */
async function startFixture(env: Record<string, string>) {
  const port = await freePort();
  const service = runTs(fixture, {
    SERVICE_NAME: 'demo',
    PORT: String(port),
    SERVICE_TOKEN_SECRETS: secret,
    ...env,
  });
  await eventually(() => (service.output().includes('LISTENING') ? true : undefined), {
    timeoutMs: 20_000,
    what: 'listening',
  });
  return { port, service };
}

describe('service process lifecycle', { timeout: 60_000 }, () => {
  it('refuses to start with a bad configuration and names each variable', async () => {
    const service = runTs(fixture, { SERVICE_NAME: 'demo', PORT: 'not-a-port', SERVICE_TOKEN_SECRETS: '' });
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.output()).toContain('invalid configuration');
    expect(service.output()).toMatch(/PORT: /);
    expect(service.output()).toMatch(/SERVICE_TOKEN_SECRETS: /);
  });

  it('on SIGTERM turns unready at once, finishes the in-flight request, runs its stop steps and exits 0', async () => {
    const { port, service } = await startFixture({ SHUTDOWN_GRACE: '5s', SLOW_MS: '1500' });
    const base = `http://127.0.0.1:${port}`;

    const inFlight = fetch(`${base}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // New connections are refused or told the service is closing; it never accepts new work.
    const late = await fetch(`${base}/health/ready`)
      .then((r) => r.status)
      .catch(() => 'refused');
    expect([503, 'refused']).toContain(late);

    expect(await inFlight).toEqual({ status: 200, body: { finished: true } });
    const { code } = await service.exited;
    expect(code, service.output()).toBe(0);
    const output = service.output();
    expect(output).toContain('STOP-STEP consumers');
    expect(output.indexOf('"msg":"stopping"')).toBeLessThan(output.indexOf('STOP-STEP consumers'));
  });

  it('is a lame duck first: a keep-alive client sending through the SIGTERM gets every answer, told to reconnect', async () => {
    const { port, service } = await startFixture({ SHUTDOWN_GRACE: '5s' });
    // A client that sends every 25 ms on its keep-alive connection, as a client pinned to a pod
    // by kube-proxy does, and goes elsewhere once an answer says `Connection: close`.
    const answers: string[] = [];
    let sent = 0;
    let told = false;
    const deadline = Date.now() + 10_000;
    while (!told && Date.now() < deadline) {
      if (++sent === 10) service.child.kill('SIGTERM');
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health/live`);
        await response.arrayBuffer();
        told = response.headers.get('connection') === 'close';
        answers.push(`${response.status}${told ? ' close' : ''}`);
      } catch (error) {
        answers.push(String((error as Error).cause ?? error));
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Closing at once would have refused the request after the SIGTERM, or reset it.
    expect(answers.filter((a) => !a.startsWith('200'))).toEqual([]);
    expect(answers.at(-1)).toBe('200 close');
    const { code } = await service.exited;
    expect(code, service.output()).toBe(0);
  });

  it('is forced out when stopping takes longer than the grace period', async () => {
    const { port, service } = await startFixture({ SHUTDOWN_GRACE: '500ms', SLOW_MS: '60000' });
    const stuck = fetch(`http://127.0.0.1:${port}/slow`).catch(() => 'cut off');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const killedAt = performance.now();
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    expect(code).not.toBe(0);
    expect(performance.now() - killedAt).toBeLessThan(10_000);
    await stuck;
  });
});
