import { describe, expect, it } from 'vitest';
import {
  decideSeed,
  displayName,
  email,
  normalizeEmail,
  password,
  scrubbedEmail,
} from '../src/domain/account.js';

describe('account rules', () => {
  it('compares emails case-insensitively by storing them trimmed and lower-cased', () => {
    expect(normalizeEmail('  Ann.Example@EXAMPLE.com ')).toBe('ann.example@example.com');
  });

  it('accepts an email as it is and refuses malformed ones, or one with spaces around it', () => {
    expect(email.parse('ann@example.com')).toBe('ann@example.com');
    for (const bad of [
      'ann',
      'ann@',
      '@example.com',
      'ann@example',
      `${'a'.repeat(250)}@example.com`,
      ' ann@example.com ',
    ]) {
      expect(email.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('gives a deleted account an address that cannot be registered, so the real one is free again', () => {
    const id = '6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d';
    expect(scrubbedEmail(id)).toBe(`deleted+${id}@invalid`);
    expect(email.safeParse(scrubbedEmail(id)).success).toBe(false);
  });

  it('bounds password and name lengths', () => {
    expect(password.safeParse('1234567').success).toBe(false);
    expect(password.safeParse('12345678').success).toBe(true);
    expect(password.safeParse('x'.repeat(128)).success).toBe(true);
    expect(password.safeParse('x'.repeat(129)).success).toBe(false);
    // Characters, as the published maxLength counts them: 4 emoji are 4, not 8.
    expect(password.safeParse('😀'.repeat(4)).success).toBe(false);
    expect(password.safeParse('😀'.repeat(128)).success).toBe(true);
    expect(displayName.safeParse('   ').success).toBe(false);
    expect(displayName.parse(' Ann ')).toBe('Ann');
    expect(displayName.safeParse('x'.repeat(101)).success).toBe(false);
  });

  it('seeds the admin by creating, promoting or leaving the account alone', () => {
    expect(decideSeed(null)).toBe('create');
    expect(decideSeed({ role: 'customer' })).toBe('promote');
    expect(decideSeed({ role: 'admin' })).toBe('unchanged');
  });
});
