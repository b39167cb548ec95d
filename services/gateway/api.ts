/**
 * The public API: authenticate at the edge, then route to the service that owns the answer. The
 * gateway holds no business logic; it decides who may ask, not what the answer is.
 */
import type { KeyObject } from 'node:crypto';
import { problem, type apiContract, type integrationContract, type ordersContract, type RelayContract } from '@msa-poc/contracts';
import type { Client, Handlers } from '@msa-poc/platform/service';
import { verifyRequest } from '@msa-poc/platform/signatures';
import { identifyCaller } from '@msa-poc/platform/tracing';
import type { AuditTrail } from './audit.js';
import type { EdgeAuth } from './edge-auth.js';

export interface EdgeDeps {
  readonly orders: Client<typeof ordersContract>;
  readonly integration: Client<typeof integrationContract>;
  /** The first synthetic service, when the system runs a synthetic topology. */
  readonly relay: Client<RelayContract> | undefined;
  readonly auth: EdgeAuth;
  readonly jwks: () => { keys: Record<string, string>[] };
  readonly partnerKey: KeyObject;
  readonly seenNonce: (nonce: string, ttlMs: number) => boolean;
  readonly audit: AuditTrail;
}

/** Adds the edge's own response fields (rate-limit state) to an answer from inside. */
const withHeaders = <R extends { readonly headers?: Readonly<Record<string, string>> }>(reply: R, headers: Readonly<Record<string, string>>): R => ({ ...reply, headers: { ...reply.headers, ...headers } });

export function gatewayApi({ orders, integration, relay, auth, jwks, partnerKey, seenNonce, audit }: EdgeDeps): Handlers<typeof apiContract> {
  return {
    token: ({ body, http }) => auth.token(body, http),

    jwks: async () => ({ status: 200, body: jwks(), headers: { 'cache-control': 'public, max-age=300' } }),

    listProducts: async ({ http }) => {
      const caller = await auth.authenticate(http, 'orders:read');
      return withHeaders(await orders.listProducts({ headers: caller.forwardTo('orders') }), caller.headers);
    },
    placeOrder: async ({ http, headers, body }) => {
      const caller = await auth.authenticate(http, 'orders:write');
      const reply = await orders.placeOrder({ headers: { 'idempotency-key': headers['idempotency-key'], ...caller.forwardTo('orders') }, body });
      audit.record({ actor: caller.clientId, keyThumbprint: caller.keyThumbprint, action: 'orders.place', outcome: reply.status < 300 ? 'succeeded' : 'failed', target: reply.status < 300 ? `order ${(reply.body as { id: string }).id}` : `key ${headers['idempotency-key']}`, detail: `status ${reply.status}` });
      return withHeaders(reply, caller.headers);
    },
    getOrder: async ({ http, params }) => {
      const caller = await auth.authenticate(http, 'orders:read');
      return withHeaders(await orders.getOrder({ headers: caller.forwardTo('orders'), params }), caller.headers);
    },
    listOrders: async ({ http, query }) => {
      const caller = await auth.authenticate(http, 'orders:read');
      return withHeaders(await orders.listOrders({ headers: caller.forwardTo('orders'), query }), caller.headers);
    },
    cancelOrder: async ({ http, params }) => {
      const caller = await auth.authenticate(http, 'orders:write');
      const reply = await orders.cancelOrder({ headers: caller.forwardTo('orders'), params });
      audit.record({ actor: caller.clientId, keyThumbprint: caller.keyThumbprint, action: 'orders.cancel', outcome: reply.status < 300 ? 'succeeded' : 'failed', target: `order ${params.id}`, detail: `status ${reply.status}` });
      return withHeaders(reply, caller.headers);
    },
    partnerCallback: async ({ http, body }) => {
      // The partner authenticates by signing each callback with its own key (RFC 9421).
      const verdict = verifyRequest({
        method: http.method, url: http.url, headers: http.headers, body: http.rawBody ?? '',
        resolveKey: (keyId) => (keyId === 'partner' ? partnerKey : undefined), seenNonce,
      });
      if (!verdict.ok) return { status: 401, body: problem('badSignature', `${verdict.reason}. Callbacks must be signed by the partner's registered key.`) };
      identifyCaller(verdict.keyId);
      return integration.partnerCallback({ body });
    },
    relay: async ({ http, query }) => {
      const caller = await auth.authenticate(http, 'orders:read');
      if (!relay) return { status: 404, body: problem('notFound', 'This system runs no synthetic services; start it with poc up --topology synthetic:N.'), headers: caller.headers };
      return withHeaders(await relay.relay({ query }), caller.headers);
    },
  };
}
