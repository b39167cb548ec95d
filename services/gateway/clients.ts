/**
 * The gateway's view of registered API clients: read from the store, kept briefly. A removed client
 * can still use the tokens it holds until they expire (at most ten minutes); it can get no new one
 * once the cache entry lapses.
 */
import { ClientId, type storeContract } from '@msa-poc/contracts';
import { validate } from '@msa-poc/platform/validation';
import type { Client } from '@msa-poc/platform/service';
import type { ClientDirectory, RegisteredClient } from './auth/client-assertion.js';

/** Whether a value is a well-formed client id, by the contract's own rule. */
export const isClientId = (value: unknown): value is string => validate(ClientId, value).ok;

export class StoreClientDirectory implements ClientDirectory {
  readonly #cache = new Map<string, { client: RegisteredClient | undefined; until: number }>();

  constructor(private readonly store: Client<typeof storeContract>, private readonly ttlMs: number) {}

  async find(id: string): Promise<RegisteredClient | undefined> {
    if (!isClientId(id)) return undefined;
    const cached = this.#cache.get(id);
    if (cached && cached.until > Date.now()) return cached.client;
    const reply = await this.store.getClient({ params: { id } });
    const client = reply.status === 200 ? { id: reply.body.id, jwks: reply.body.jwks as RegisteredClient['jwks'], scopes: [...reply.body.scopes], roles: [...reply.body.roles], ...(reply.body.customerId ? { customerId: reply.body.customerId } : {}) } : undefined;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(id, { client, until: Date.now() + this.ttlMs });
    return client;
  }

  forget(id: string): void {
    this.#cache.delete(id);
  }
}
