import { ServiceTokens, ServiceTokenVerifier } from '@shop/platform';
import { TEST_SERVICE_SECRET, testUser } from '@shop/testkit';
import { describe, expect, it } from 'vitest';
import { UpstreamCredentials } from '../src/upstream-credentials.js';

describe('upstream credentials', () => {
  it('mints a service token for the service, acting for the user, and reuses it for a while', async () => {
    let now = Date.now();
    const credentials = new UpstreamCredentials(
      new ServiceTokens('gateway', [TEST_SERVICE_SECRET]),
      () => now,
    );
    const user = testUser('admin');
    expect(credentials.peek('orders', user)).toBeUndefined();
    const header = await credentials.mint('orders', user);
    const caller = await new ServiceTokenVerifier('orders', [TEST_SERVICE_SECRET]).verify(header.slice(7));
    expect(caller).toEqual({ service: 'gateway', user });

    expect(credentials.peek('orders', user)).toBe(header);
    expect(credentials.peek('inventory', user)).toBeUndefined();
    expect(credentials.peek('orders', { ...user, role: 'customer' })).toBeUndefined();
    expect(credentials.peek('orders', null)).toBeUndefined();
    now += 31_000;
    expect(credentials.peek('orders', user)).toBeUndefined();
  });
});
