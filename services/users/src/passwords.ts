// Password hashing with argon2id.
//
// Parameters: OWASP's Password Storage Cheat Sheet recommends argon2id with
// m = 19 MiB, t = 2, p = 1 as the baseline. argon2id resists both GPU cracking
// (memory-hard) and side channels (data-independent first pass); 19 MiB x 2
// passes costs an attacker about as much per guess as the other recommended
// settings while keeping a login near 50-100 ms and 19 MiB on our side, so a
// burst of logins on a 2-core pod stays affordable. p = 1 because requests are
// already concurrent; more lanes per hash would only contend for the same cores.
//
// Passwords are NFKC-normalised first (NIST SP 800-63B 5.1.1.2), so the same
// passphrase typed on two keyboards that compose characters differently matches.
import { type Algorithm, hash, parseOptions, verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id`; the package declares its enum `const`, which isolated modules cannot read. */
const ARGON2ID = 2 as Algorithm;

export const ARGON2_OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

const prepare = (password: string) => password.normalize('NFKC');

export function hashPassword(password: string): Promise<string> {
  return hash(prepare(password), ARGON2_OPTIONS);
}

/** False for a wrong password and for a hash that is not argon2 at all (e.g. a scrubbed account). */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, prepare(password));
  } catch {
    return false;
  }
}

/** True when a stored hash was made with other parameters than today's, so a login should upgrade it. */
export function needsRehash(passwordHash: string): boolean {
  try {
    const used = parseOptions(passwordHash);
    return (
      used.algorithm !== ARGON2_OPTIONS.algorithm ||
      used.memoryCost !== ARGON2_OPTIONS.memoryCost ||
      used.timeCost !== ARGON2_OPTIONS.timeCost ||
      used.parallelism !== ARGON2_OPTIONS.parallelism
    );
  } catch {
    return true;
  }
}

/**
 * Checks a password against an account that may not exist. For an unknown
 * email it verifies against a dummy hash made with the same parameters, so the
 * answer takes as long as for a known one and timing does not tell an attacker
 * which emails have accounts.
 */
export class PasswordChecker {
  #dummy: Promise<string> | undefined;

  /** Makes the dummy hash ahead of the first login (otherwise the first unknown email pays for it). */
  warmUp(): Promise<string> {
    this.#dummy ??= hashPassword(`dummy-${crypto.randomUUID()}`);
    return this.#dummy;
  }

  async check(account: { passwordHash: string } | null, password: string): Promise<boolean> {
    if (!account) {
      await verifyPassword(await this.warmUp(), password);
      return false;
    }
    return verifyPassword(account.passwordHash, password);
  }
}
