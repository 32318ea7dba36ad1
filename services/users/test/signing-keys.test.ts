import { loadConfig } from '@shop/platform';
import { describe, expect, it } from 'vitest';
import { usersEnv } from '../src/config.js';
import { generateSigningKey, publicJwk, signingKeySet, signingKeysEnv } from '../src/signing-keys.js';
import { freshKeys } from './support.js';

const baseEnv = {
  SERVICE_NAME: 'users',
  PORT: '8081',
  SERVICE_TOKEN_SECRETS: 'x'.repeat(32),
  DATABASE_URL: 'postgresql://users:users@127.0.0.1:15432/users',
  KAFKA_BROKERS: '127.0.0.1:19092',
};

describe('signing keys', () => {
  it('generates an Ed25519 private JWK whose kid starts with the date', async () => {
    const key = await generateSigningKey(new Date('2026-03-04T05:06:07Z'));
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(key.kid).toMatch(/^20260304-[\w-]{16}$/);
    expect(key.d).toHaveLength(43);
  });

  it('reads USER_TOKEN_SIGNING_KEYS: the first key signs, all are published without their private part', async () => {
    const [newer, older] = await freshKeys(2);
    const keys = signingKeysEnv.parse(JSON.stringify([newer, older]));
    const set = signingKeySet(keys);
    expect(set.current.kid).toBe(newer!.kid);
    expect(set.jwks.keys.map((key) => key.kid)).toEqual([newer!.kid, older!.kid]);
    expect(JSON.stringify(set.jwks)).not.toContain(newer!.d);
    expect(publicJwk(newer!)).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: newer!.x,
      kid: newer!.kid,
      alg: 'EdDSA',
      use: 'sig',
    });
  });

  it('refuses bad key configuration without quoting the secret', async () => {
    const [a, b] = await freshKeys(2);
    const refuse = (value: string) => {
      const result = signingKeysEnv.safeParse(value);
      expect(result.success, value).toBe(false);
      expect(JSON.stringify(result.error?.issues)).not.toContain(a!.d);
      return result.error?.issues.map((issue) => issue.message).join('; ');
    };
    expect(refuse(`[${JSON.stringify(a)}`)).toMatch(/JSON array/);
    expect(refuse('[]')).toMatch(/at least one key/);
    expect(refuse(JSON.stringify([a, { ...b, kid: a!.kid }]))).toMatch(/each kid only once/);
    expect(refuse(JSON.stringify([{ ...a, x: b!.x }]))).toMatch(/x matches d/);
    expect(refuse(JSON.stringify([{ ...a, d: undefined }]))).toBeTruthy();
    expect(refuse(JSON.stringify([{ ...a, crv: 'P-256' }]))).toBeTruthy();
  });

  it('is part of the service configuration, with a 15 minute token lifetime by default', async () => {
    const keys = JSON.stringify(await freshKeys(1));
    const config = loadConfig(usersEnv, { ...baseEnv, USER_TOKEN_SIGNING_KEYS: keys });
    expect(config.ACCESS_TOKEN_TTL).toBe(15 * 60_000);
    expect(config.USER_TOKEN_SIGNING_KEYS).toHaveLength(1);
    expect(
      loadConfig(usersEnv, { ...baseEnv, USER_TOKEN_SIGNING_KEYS: keys, ACCESS_TOKEN_TTL: '5m' })
        .ACCESS_TOKEN_TTL,
    ).toBe(300_000);
    expect(() =>
      loadConfig(usersEnv, { ...baseEnv, USER_TOKEN_SIGNING_KEYS: keys, ACCESS_TOKEN_TTL: '15s' }),
    ).toThrow(/ACCESS_TOKEN_TTL/);
    expect(() => loadConfig(usersEnv, baseEnv)).toThrow(/USER_TOKEN_SIGNING_KEYS: is required/);
  });
});
