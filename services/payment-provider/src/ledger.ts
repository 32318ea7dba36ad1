// The provider's book of authorizations and what happened to each, with the
// replay rule real providers apply: a request repeated with the same
// Idempotency-Key gets the first answer again, and never a second charge.
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type AuthorizationStatus = 'authorized' | 'captured' | 'voided' | 'refunded';

export interface Authorization {
  id: string;
  amountCents: number;
  currency: string;
  status: AuthorizationStatus;
  reference: string | null;
  captures: number;
  createdAt: string;
}

export interface StoredResponse {
  fingerprint: string;
  status: number;
  body: unknown;
}

type Entry =
  | { kind: 'authorization'; value: Authorization }
  | { kind: 'response'; key: string; value: StoredResponse };

export class Ledger {
  readonly authorizations = new Map<string, Authorization>();
  readonly #responses = new Map<string, StoredResponse>();

  /** With a file, every change is appended to it and replayed on start, so a restart forgets nothing. */
  constructor(private readonly file?: string) {
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line) as Entry;
      if (entry.kind === 'authorization') this.authorizations.set(entry.value.id, entry.value);
      else this.#responses.set(entry.key, entry.value);
    }
  }

  replay(key: string): StoredResponse | undefined {
    return this.#responses.get(key);
  }

  remember(key: string, response: StoredResponse): void {
    this.#responses.set(key, response);
    this.#append({ kind: 'response', key, value: response });
  }

  authorize(amountCents: number, currency: string, reference: string | null): Authorization {
    const authorization: Authorization = {
      id: `auth_${randomUUID()}`,
      amountCents,
      currency,
      status: 'authorized',
      reference,
      captures: 0,
      createdAt: new Date().toISOString(),
    };
    this.save(authorization);
    return authorization;
  }

  save(authorization: Authorization): void {
    this.authorizations.set(authorization.id, authorization);
    this.#append({ kind: 'authorization', value: authorization });
  }

  #append(entry: Entry): void {
    if (this.file) appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
  }
}
