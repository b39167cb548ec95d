/**
 * orders — the core business logic: prices orders against the catalog, applies the stock rules,
 * and owns the order state machine. Persists nothing itself: the store does, in one transaction.
 */
import { ordersContract, storeContract } from '@msa-poc/contracts';
import { defineService } from '@msa-poc/platform/service';
import { intSetting } from '@msa-poc/platform/config';
import { benchCallers, CallerAssertionVerifier } from '@msa-poc/platform/caller-assertion';
import { loadVerifyKey } from '@msa-poc/platform/signatures';
import { ordersApi } from './api.js';
import { Catalog } from './catalog.js';

export const ordersService = defineService({
  contract: ordersContract,
  dependencies: { store: storeContract },
  async setup({ clients, env, config }) {
    const catalog = new Catalog(async () => {
      const reply = await clients.store.listProducts({});
      return reply.body.items;
    }, intSetting(env, 'POC_CATALOG_TTL_MS', 5_000, 0, 3_600_000));
    // The gateway's public key: orders believes who the end user is only when the gateway says so
    // (unless the auth bench switch is off, when every request acts for the bench client).
    const callers = config.benchDisabled.has('auth') ? benchCallers : new CallerAssertionVerifier(loadVerifyKey(config.keysDir, 'gateway'), 'gateway', 'orders');
    return { handlers: ordersApi(clients.store, catalog, callers) };
  },
});
