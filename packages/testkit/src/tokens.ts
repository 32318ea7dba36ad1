// Service tokens for tests, signed with a fixed secret the apps under test are given.
import { randomUUID } from 'node:crypto';
import { type ActingUser, ServiceTokens } from '@shop/platform';

export const TEST_SERVICE_SECRET = 'test-service-token-secret-0123456789abcdef';

const gateway = new ServiceTokens('gateway', [TEST_SERVICE_SECRET]);

export function testUser(role: ActingUser['role'] = 'customer'): ActingUser {
  return { id: randomUUID(), role };
}

/** An Authorization header as the gateway would send it, acting for `user` if given. */
export async function asGateway(audience: string, user?: ActingUser): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await gateway.tokenFor(audience, user)}` };
}
