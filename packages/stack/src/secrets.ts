// The secrets a local stack needs: the shared service-token secret and the
// users service's signing key. Made once per checkout for `make dev` (kept in
// .run/, never committed), or fresh for each test stack.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';

export interface StackSecrets {
  serviceTokenSecrets: string;
  userTokenSigningKeys: string;
}

export async function freshSecrets(): Promise<StackSecrets> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'EdDSA', use: 'sig' };
  return {
    serviceTokenSecrets: randomBytes(32).toString('base64url'),
    userTokenSigningKeys: JSON.stringify([jwk]),
  };
}

/** Reads the secrets kept in `file`, making them the first time. */
export async function persistentSecrets(file: string): Promise<StackSecrets> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StackSecrets;
  const secrets = await freshSecrets();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
