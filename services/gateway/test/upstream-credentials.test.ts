import { ServiceTokens, ServiceTokenVerifier } from '@shop/platform';
import { TEST_SERVICE_SECRET, testUser } from '@shop/testkit';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamCredentials } from '../src/upstream-credentials.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('upstream credentials', () => {
  it('mints a service token for the service, acting for the user, and reuses it only while it is fresh', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const credentials = new UpstreamCredentials(new ServiceTokens('gateway', [TEST_SERVICE_SECRET]));
    const user = testUser('admin');
    expect(credentials.peek('orders', user)).toBeUndefined();
    const header = await credentials.mint('orders', user);
    const caller = await new ServiceTokenVerifier('orders', [TEST_SERVICE_SECRET]).verify(header.slice(7));
    expect(caller).toEqual({ service: 'gateway', user });

    expect(credentials.peek('orders', user)).toBe(header);
    expect(credentials.peek('inventory', user)).toBeUndefined();
    expect(credentials.peek('orders', { ...user, role: 'customer' })).toBeUndefined();
    expect(credentials.peek('orders', null)).toBeUndefined();

    // Never handed out once less than a quarter of its life is left.
    const { exp } = decodeJwt(header.slice(7));
    vi.setSystemTime((exp! - 14) * 1000);
    expect(credentials.peek('orders', user)).toBeUndefined();
    const fresh = await credentials.mint('orders', user);
    expect(decodeJwt(fresh.slice(7)).exp).toBeGreaterThan(exp!);
  });
});
