// Every registration the API accepts becomes a user.registered the contract
// accepts: the event carries the account as stored (email lower-cased, name
// trimmed), so a stricter event schema would fail the request as a 500.
import { messageData } from '@shop/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { displayName, email, normalizeEmail, password } from '../src/domain/account.js';

describe('a registration the API accepts', () => {
  it('becomes a user.registered the contract accepts', () => {
    const registration = fc.record({
      email: fc.emailAddress().filter((value) => email.safeParse(value).success),
      password: fc
        .string({ unit: 'binary', minLength: 8, maxLength: 128 })
        .filter((value) => password.safeParse(value).success),
      name: fc
        .string({ unit: 'binary', minLength: 1, maxLength: 100 })
        .filter((value) => displayName.safeParse(value).success),
    });
    fc.assert(
      fc.property(registration, fc.uuid(), fc.constantFrom('customer', 'admin'), (input, userId, role) => {
        expect(password.safeParse(input.password).success).toBe(true);
        const stored = {
          email: normalizeEmail(email.parse(input.email)),
          name: displayName.parse(input.name),
        };
        const parsed = messageData['user.registered'].safeParse({ userId, role, ...stored });
        expect(parsed.success, parsed.error?.message).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
