/** The partner's API: verify the caller's signature, then accept each order once. */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { problem, type partnerContract } from '@msa-poc/contracts';
import type { Handlers } from '@msa-poc/platform/service';
import { verifyRequest } from '@msa-poc/platform/signatures';
import { identifyCaller } from '@msa-poc/platform/tracing';
import type { CallbackDispatcher } from './callbacks.js';
import type { FaultSettings } from './faults.js';
import type { Ledger } from './ledger.js';

export interface PartnerState {
  readonly ledger: Ledger;
  readonly callbacks: CallbackDispatcher;
  readonly faults: () => FaultSettings;
  /** Public keys of the clients the partner accepts, by key id. */
  readonly clientKeys: ReadonlyMap<string, KeyObject>;
  readonly seenNonce: (nonce: string, ttlMs: number) => boolean;
}

export function partnerApi(state: PartnerState): Handlers<typeof partnerContract> {
  return {
    submitFulfilment: async ({ body, http }) => {
      const verdict = verifyRequest({
        method: http.method, url: http.url, headers: http.headers, body: http.rawBody ?? '',
        resolveKey: (keyId) => state.clientKeys.get(keyId), seenNonce: state.seenNonce,
      });
      if (!verdict.ok) return { status: 401, body: problem('badSignature', verdict.reason) };
      identifyCaller(verdict.keyId);
      const faults = state.faults();
      if (faults.latencyMs > 0) await sleep(faults.latencyMs);
      if (faults.errorRate > 0 && Math.random() < faults.errorRate) return { status: 503, body: problem('unavailable', 'The partner is having trouble (injected fault); retry later.') };
      if (faults.refuseCountries.includes(body.shippingAddress.country)) {
        return { status: 422, body: problem('orderRule', `The partner does not ship to ${body.shippingAddress.country}.`) };
      }
      const known = state.ledger.get(body.orderId);
      if (known) {
        state.ledger.repeated(body.orderId);
        return { status: 200, body: { fulfilmentId: known.fulfilmentId, orderId: known.orderId, status: 'accepted' } };
      }
      const entry = { orderId: body.orderId, fulfilmentId: `ful_${randomUUID().replaceAll('-', '')}`, acceptedAt: new Date().toISOString(), requests: 1, accepts: 1, callbackDeliveredAt: null, callbackAttempts: 0 };
      state.ledger.accept(entry);
      state.callbacks.schedule(entry, faults.fulfilDelayMs);
      return { status: 202, body: { fulfilmentId: entry.fulfilmentId, orderId: entry.orderId, status: 'accepted' } };
    },
  };
}
