// The Authorization header the gateway sends a service: a service token for
// that service, acting for the signed-in user if there is one. Minting is
// async; ServiceTokens keeps each token while it is fresh, so a request for a
// user seen recently takes the synchronous path with no await at all. (A second
// cache here once outlived the tokens themselves and sent expired ones.)
import type { ActingUser, ServiceTokens } from '@shop/platform';

export class UpstreamCredentials {
  constructor(private readonly tokens: ServiceTokens) {}

  /** The header, when a token minted recently is still fresh. */
  peek(audience: string, user: ActingUser | null): string | undefined {
    const token = this.tokens.cachedToken(audience, user ?? undefined);
    return token === undefined ? undefined : `Bearer ${token}`;
  }

  async mint(audience: string, user: ActingUser | null): Promise<string> {
    return `Bearer ${await this.tokens.tokenFor(audience, user ?? undefined)}`;
  }
}
