/**
 * partner — a simulated external fulfilment provider. It is not ours: it authenticates us by our
 * signature (no shared secret), accepts each order once, calls back signed with its own key, and
 * can be made slow or unreliable through its admin port.
 */
import { join } from 'node:path';
import { apiContract, partnerContract } from '@msa-poc/contracts';
import { defineService } from '@msa-poc/platform/service';
import { loadVerifyKey, requestSigner } from '@msa-poc/platform/signatures';
import { validate } from '@msa-poc/platform/validation';
import { ReplayCache } from '@msa-poc/platform/replay';
import { partnerApi } from './api.js';
import { CallbackDispatcher } from './callbacks.js';
import { defaultFaults, FaultUpdate, type FaultSettings } from './faults.js';
import { Ledger } from './ledger.js';

export const partnerService = defineService({
  contract: partnerContract,
  dependencies: { gateway: apiContract },
  clientOptions: ({ config }) => ({
    gateway: {
      timeoutMs: 5_000,
      // Delivery retries live in the callback dispatcher, which backs off longer.
      retry: { attempts: 1, baseMs: 0, capMs: 0 },
      signer: requestSigner(config.keysDir, 'partner'),
    },
  }),
  async setup({ clients, config, log }) {
    const ledger = new Ledger(join(config.dataDir, 'partner', 'ledger.jsonl'));
    const callbacks = new CallbackDispatcher(clients.gateway, ledger, log);
    let faults: FaultSettings = defaultFaults();
    const nonces = new ReplayCache(500_000);
    return {
      handlers: partnerApi({
        ledger, callbacks, faults: () => faults,
        clientKeys: new Map([['integration', loadVerifyKey(config.keysDir, 'integration')]]),
        seenNonce: (nonce, ttlMs) => !nonces.firstUse(nonce, ttlMs),
      }),
      admin: (app) => {
        app.get('/faults', async () => faults);
        app.put('/faults', async (request, reply) => {
          const update = validate<Partial<FaultSettings>>(FaultUpdate, request.body);
          if (!update.ok) return reply.code(400).send({ error: 'invalid fault settings', errors: update.errors });
          faults = { ...faults, ...update.value };
          log.warn({ faults }, 'fault settings changed');
          return faults;
        });
        app.delete('/faults', async () => (faults = defaultFaults()));
        app.get('/ledger', async () => {
          const entries = ledger.entries();
          return { accepted: entries.length, duplicateShipments: entries.reduce((n, e) => n + e.accepts - 1, 0), duplicateRequests: entries.reduce((n, e) => n + e.requests - 1, 0), callbacksPending: entries.filter((e) => !e.callbackDeliveredAt).length, entries };
        });
      },
      start: async () => {
        const resumed = callbacks.resume();
        if (resumed > 0) log.info({ resumed }, 'resuming undelivered callbacks');
      },
      stop: () => callbacks.stop(),
    };
  },
});
