// One cutover per service at a time; a killed holder's lock expires and is taken
// over; Ctrl-C and `bluegreen abort` leave traffic where it was and free the lock.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  activeColor,
  type Clients,
  clients,
  createBlueGreen,
  createNamespace,
  deleteNamespace,
  endpointColors,
  parseJson,
  runCli,
  startCli,
} from './support/cluster.js';
import { checkServer } from './support/http.js';

const release = 'shop';
let c: Clients;
let ns: string;

beforeAll(async () => {
  c = clients();
  ns = await createNamespace(c, 'lock', inject('bluegreenRun'));
});

afterAll(async () => {
  await deleteNamespace(c, ns);
});

const args = (...rest: string[]) => [...rest, '-n', ns];

async function lease(service: string) {
  return c.coordination.readNamespacedLease({ name: `${release}-${service}-bluegreen`, namespace: ns });
}

describe('the lock', () => {
  it('a second deploy fails at once naming the holder (exit 5); abort stops the first', async () => {
    const service = 'users';
    await createBlueGreen(c, { namespace: ns, release, service });
    const first = startCli(
      args('deploy', service, '--image', 'registry.local/never-ready:1', '--timeout', '120s'),
      {
        BLUEGREEN_ACTOR: 'alice@ci',
      },
    );
    await first.waitForStderr(/start Wait until green is ready/);
    const second = await runCli(
      args('deploy', service, '--image', 'registry.local/shop-users:2', '-o', 'json'),
      {
        BLUEGREEN_ACTOR: 'bob@laptop',
      },
    );
    expect(second.code, second.stderr).toBe(5);
    const out = parseJson(second);
    expect((out.error as { message: string }).message).toMatch(
      /held by alice@ci \(pid \d+\), doing: deploy users registry.local\/never-ready:1/,
    );
    expect((out.error as { hint: string }).hint).toContain('bluegreen abort users');
    expect(out.details).toMatchObject({ holder: expect.stringContaining('alice@ci') });
    // status names the holder and what it is doing.
    const status = parseJson(await runCli(args('status', service, '-o', 'json'))) as {
      services: { lock: Record<string, unknown> | null }[];
    };
    expect(status.services[0]?.lock).toMatchObject({
      state: 'held',
      holder: expect.stringMatching(/^alice@ci \(pid \d+\)$/),
      operation: expect.stringContaining('deploy users registry.local/never-ready:1'),
    });

    const aborted = await runCli(args('abort', service), { BLUEGREEN_ACTOR: 'carol@ops' });
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stdout).toMatch(
      /alice@ci \(pid \d+\) stopped and released the lock; shop-users serves blue/,
    );
    const done = await first.done;
    expect(done.code).toBe(130);
    expect(done.stderr).toContain('aborted by carol@ops');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect((await lease(service)).spec?.holderIdentity ?? undefined).toBeUndefined();
    // Nothing in progress now: abort says so and succeeds.
    const again = await runCli(args('abort', service));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to abort');
  });

  it('two deploys started together: exactly one runs, the other exits 5', async () => {
    const service = 'orders';
    await createBlueGreen(c, { namespace: ns, release, service });
    const run = (who: string) =>
      runCli(args('deploy', service, '--image', 'registry.local/never-ready:2', '--timeout', '10s'), {
        BLUEGREEN_ACTOR: who,
      });
    const results = await Promise.all([run('one@a'), run('two@b')]);
    expect(results.map((r) => r.code).sort()).toEqual([3, 5]);
    const loser = results.find((r) => r.code === 5)!;
    const winner = results.find((r) => r.code === 3)!;
    expect(loser.stderr).toMatch(/held by (one@a|two@b) \(pid \d+\)/);
    expect(winner.stderr).toContain('was not ready after 10.0s');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
  });

  it('a lock left by a killed process (kill -9) expires and is taken over', async () => {
    const service = 'inventory';
    await createBlueGreen(c, { namespace: ns, release, service });
    const victim = startCli(
      args(
        'deploy',
        service,
        '--image',
        'registry.local/never-ready:3',
        '--timeout',
        '5m',
        '--lease-duration',
        '12s',
      ),
      { BLUEGREEN_ACTOR: 'victim@ci' },
    );
    await victim.waitForStderr(/start Wait until green is ready/);
    victim.child.kill('SIGKILL');
    const killed = await victim.done;
    expect(killed.signal).toBe('SIGKILL');
    const left = await lease(service);
    expect(left.spec?.holderIdentity).toMatch(/^victim@ci/);

    // Still inside the lease duration: refused, naming the dead holder.
    const early = await runCli(args('deploy', service, '--image', 'registry.local/shop-inventory:2'));
    expect(early.code, early.stderr).toBe(5);
    expect(early.stderr).toContain('held by victim@ci');
    expect(early.stderr).toMatch(/If its process died, the lock expires in \d+s/);

    // After it expired: taken over, and the deploy goes through.
    const renewed = new Date(String(left.spec?.renewTime)).getTime();
    await new Promise((r) => setTimeout(r, Math.max(0, renewed + 12_000 - Date.now() + 500)));
    const late = await runCli(
      args('deploy', service, '--image', 'registry.local/shop-inventory:2', '-o', 'json'),
    );
    expect(late.code, late.stderr).toBe(0);
    expect(parseJson(late)).toMatchObject({
      result: 'succeeded',
      activeColor: 'green',
      lock: { tookOverFrom: expect.stringMatching(/^victim@ci \(pid \d+\)$/) },
    });
    expect(late.stderr).toContain('took over the expired lock of victim@ci');
  });
});

describe('Ctrl-C', () => {
  it('while waiting for readiness: exit 130, traffic unchanged, lock released', async () => {
    const service = 'payments';
    await createBlueGreen(c, { namespace: ns, release, service });
    const run = startCli(
      args('deploy', service, '--image', 'registry.local/never-ready:4', '--timeout', '5m'),
    );
    await run.waitForStderr(/start Wait until green is ready/);
    const sent = Date.now();
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(15_000);
    expect(done.stderr).toContain('SIGINT: stopping; traffic stays where it was');
    expect(done.stderr).toContain('traffic was left where it was');
    expect(await activeColor(c, ns, release, service)).toBe('blue');
    expect((await lease(service)).spec?.holderIdentity ?? undefined).toBeUndefined();
    const cm = await c.core.readNamespacedConfigMap({
      name: `${release}-${service}-bluegreen-history`,
      namespace: ns,
    });
    expect(JSON.parse(cm.data?.['history.json'] ?? '[]')[0]).toMatchObject({ result: 'interrupted' });
  });

  it('at the switch itself: either stopped and on blue, or finished on green; never in between', async () => {
    const service = 'gateway';
    await createBlueGreen(c, { namespace: ns, release, service });
    const run = startCli(args('deploy', service, '--image', 'registry.local/shop-gateway:2'));
    await run.waitForStderr(/start Switch shop-gateway from blue to green/);
    run.child.kill('SIGINT');
    const done = await run.done;
    // The signal lands while the switch is checked, patched or verified (a few
    // hundred ms); should the command already have finished, it must be whole.
    if (done.code === 130) {
      expect(await activeColor(c, ns, release, service)).toBe('blue');
      expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
    } else {
      expect(done.code, done.stderr).toBe(0);
      expect(await activeColor(c, ns, release, service)).toBe('green');
      expect(await endpointColors(c, ns, release, service)).toEqual(['green', 'green']);
    }
    expect((await lease(service)).spec?.holderIdentity ?? undefined).toBeUndefined();
  });

  it('after the switch (during post-promotion checks): switched back, exit 130, lock released', async () => {
    const service = 'notifications';
    await createBlueGreen(c, { namespace: ns, release, service });
    // Slow but healthy: the checks are still running when Ctrl-C comes.
    const server = await checkServer(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 1500));
      res.writeHead(200).end('ok');
    });
    try {
      const run = startCli(
        args(
          'deploy',
          service,
          '--image',
          'registry.local/shop-notifications:2',
          '--check-url',
          server.url,
          '--check-successes',
          '20',
        ),
      );
      await run.waitForStderr(/start Post-promotion checks/);
      expect(await activeColor(c, ns, release, service)).toBe('green');
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(done.code, done.stderr).toBe(130);
      expect(done.stderr).toMatch(/done {2}Switch back to blue/);
      expect(await activeColor(c, ns, release, service)).toBe('blue');
      expect(await endpointColors(c, ns, release, service)).toEqual(['blue', 'blue']);
      expect((await lease(service)).spec?.holderIdentity ?? undefined).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
