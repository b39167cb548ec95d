/**
 * gateway — the edge. Terminates client TLS, authenticates every request (DPoP-bound tokens;
 * signed partner callbacks), tags it with a request id and trace, and routes it inward over
 * mutual TLS. The only service reachable from outside.
 */
import { apiContract, integrationContract, ordersContract } from '@msa-poc/contracts';
import { ReplayCache } from '@msa-poc/platform/replay';
import { defineService } from '@msa-poc/platform/service';
import { loadVerifyKey } from '@msa-poc/platform/signatures';
import { ProblemError } from '@msa-poc/platform/errors';
import { gatewayApi, type Authenticate } from './api.js';

/** Refuses every request until client authentication is configured: the API is never open. */
const refuseAll: Authenticate = async (http) => {
  const scheme = String(http.headers.authorization ?? '').split(' ')[0];
  throw new ProblemError('unauthenticated', scheme ? `The ${scheme} credentials are not accepted.` : 'Send a DPoP-bound access token (Authorization: DPoP …) with a DPoP proof.', {
    headers: { 'www-authenticate': 'DPoP algs="ES256 EdDSA"' },
  });
};

export const gatewayService = defineService({
  contract: apiContract,
  dependencies: { orders: ordersContract, integration: integrationContract },
  async setup({ clients, config }) {
    const nonces = new ReplayCache(500_000);
    return {
      handlers: gatewayApi({
        orders: clients.orders,
        integration: clients.integration,
        authenticate: refuseAll,
        partnerKey: loadVerifyKey(config.keysDir, 'partner'),
        seenNonce: (nonce, ttlMs) => !nonces.firstUse(nonce, ttlMs),
      }),
    };
  },
});
