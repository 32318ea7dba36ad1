// The Authorization header the gateway sends a service: a service token for
// that service, acting for the signed-in user if there is one. Minting is
// async; the header for a (service, user) pair is reused for a while, so a
// request for a user seen in the last half minute needs no await at all.
import type { ActingUser, ServiceTokens } from '@shop/platform';

// Well inside the platform's reuse window (service tokens live 60 s and are
// reissued once a quarter of that is left).
const REUSE_MS = 30_000;
const MAX_ENTRIES = 50_000;

export class UpstreamCredentials {
  readonly #headers = new Map<string, { header: string; until: number }>();

  constructor(
    private readonly tokens: ServiceTokens,
    private readonly now: () => number = Date.now,
  ) {}

  /** The header, when one minted recently can be reused. */
  peek(audience: string, user: ActingUser | null): string | undefined {
    const entry = this.#headers.get(keyOf(audience, user));
    return entry && entry.until > this.now() ? entry.header : undefined;
  }

  async mint(audience: string, user: ActingUser | null): Promise<string> {
    const header = `Bearer ${await this.tokens.tokenFor(audience, user ?? undefined)}`;
    if (this.#headers.size >= MAX_ENTRIES) this.#sweep();
    this.#headers.set(keyOf(audience, user), { header, until: this.now() + REUSE_MS });
    return header;
  }

  #sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.#headers) if (entry.until <= now) this.#headers.delete(key);
    if (this.#headers.size >= MAX_ENTRIES) this.#headers.clear();
  }
}

function keyOf(audience: string, user: ActingUser | null): string {
  return user ? `${audience}|${user.id}|${user.role}` : audience;
}
