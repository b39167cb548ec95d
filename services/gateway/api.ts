/**
 * The public API: authenticate at the edge, then route to the service that owns the answer. The
 * gateway holds no business logic; it decides who may ask, not what the answer is.
 */
import { problem, type apiContract, type integrationContract, type ordersContract, type Scope } from '@msa-poc/contracts';
import type { Client, Handlers, HttpView } from '@msa-poc/platform/service';
import { verifyRequest } from '@msa-poc/platform/signatures';
import type { KeyObject } from 'node:crypto';

/** Who is calling the public API, once authenticated. */
export interface Principal {
  readonly clientId: string;
  readonly scopes: readonly string[];
}

/** Authenticates a request for a scope; throws a ProblemError (401/403/429) when it may not pass. */
export type Authenticate = (http: HttpView, scope: Scope) => Promise<Principal>;

export interface EdgeDeps {
  readonly orders: Client<typeof ordersContract>;
  readonly integration: Client<typeof integrationContract>;
  readonly authenticate: Authenticate;
  readonly partnerKey: KeyObject;
  readonly seenNonce: (nonce: string, ttlMs: number) => boolean;
}

export function gatewayApi({ orders, integration, authenticate, partnerKey, seenNonce }: EdgeDeps): Handlers<typeof apiContract> {
  return {
    listProducts: async ({ http }) => {
      await authenticate(http, 'orders:read');
      return orders.listProducts({});
    },
    placeOrder: async ({ http, headers, body }) => {
      await authenticate(http, 'orders:write');
      return orders.placeOrder({ headers: { 'idempotency-key': headers['idempotency-key'] }, body });
    },
    getOrder: async ({ http, params }) => {
      await authenticate(http, 'orders:read');
      return orders.getOrder({ params });
    },
    listOrders: async ({ http, query }) => {
      await authenticate(http, 'orders:read');
      return orders.listOrders({ query });
    },
    cancelOrder: async ({ http, params }) => {
      await authenticate(http, 'orders:write');
      return orders.cancelOrder({ params });
    },
    partnerCallback: async ({ http, body }) => {
      // The partner authenticates by signing each callback with its own key (RFC 9421).
      const verdict = verifyRequest({
        method: http.method, url: http.url, headers: http.headers, body: http.rawBody ?? '',
        resolveKey: (keyId) => (keyId === 'partner' ? partnerKey : undefined), seenNonce,
      });
      if (!verdict.ok) return { status: 401, body: problem('badSignature', `${verdict.reason}. Callbacks must be signed by the partner's registered key.`) };
      return integration.partnerCallback({ body });
    },
  };
}
