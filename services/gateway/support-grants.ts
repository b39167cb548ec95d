/**
 * Support grants as the edge sees them, read from the store. The token exchange reads a grant
 * fresh; a request made with a support token checks its grant through a short cache, so that a
 * revocation or an expiry takes effect within `ttlMs` (POC_SUPPORT_GRANT_CACHE_MS, default 2 s)
 * and not at the token's expiry. The store checks the grant again, exactly, before it reads.
 */
import type { storeContract, SupportGrant } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/service';
import type { SupportGrantLookup } from './auth/token-exchange.js';

export class SupportGrants implements SupportGrantLookup {
  readonly #cache = new Map<string, { grant: SupportGrant | undefined; until: number }>();

  constructor(
    private readonly store: Pick<Client<typeof storeContract>, 'getSupportGrant'>,
    private readonly ttlMs: number,
    /** Epoch milliseconds. */
    private readonly clock: () => number = Date.now,
  ) {}

  async find(id: string): Promise<SupportGrant | undefined> {
    const reply = await this.store.getSupportGrant({ params: { id } });
    return reply.status === 200 ? reply.body : undefined;
  }

  /** Whether `engineer` may act under grant `id` now: approved, requested by it, not expired, not revoked. */
  async isLive(id: string, engineer: string): Promise<boolean> {
    const now = this.clock();
    let cached = this.#cache.get(id);
    if (cached === undefined || cached.until <= now) {
      cached = { grant: await this.find(id), until: now + this.ttlMs };
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(id, cached);
    }
    const grant = cached.grant;
    return grant !== undefined && grant.requester === engineer && grant.status === 'approved' && grant.expiresAt !== undefined && Date.parse(grant.expiresAt) > now;
  }

  /** Drops what is known of a grant: its revocation at this replica takes effect at once. */
  forget(id: string): void {
    this.#cache.delete(id);
  }
}
