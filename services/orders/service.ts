/**
 * orders — the core business logic: prices orders against the catalog, applies the stock rules,
 * and owns the order state machine. Persists nothing itself: the store does, in one transaction.
 */
import { ordersContract, storeContract } from '@msa-poc/contracts';
import { defineService } from '@msa-poc/platform/service';
import { intSetting } from '@msa-poc/platform/config';
import { ordersApi } from './api.js';
import { Catalog } from './catalog.js';

export const ordersService = defineService({
  contract: ordersContract,
  dependencies: { store: storeContract },
  async setup({ clients, env }) {
    const catalog = new Catalog(async () => {
      const reply = await clients.store.listProducts({});
      return reply.body.items;
    }, intSetting(env, 'POC_CATALOG_TTL_MS', 5_000, 0, 3_600_000));
    return { handlers: ordersApi(clients.store, catalog) };
  },
});
