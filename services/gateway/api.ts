/**
 * The public API: authenticate at the edge, then route to the service that owns the answer. The
 * gateway holds no business logic; it decides who may ask, not what the answer is.
 */
import type { KeyObject } from 'node:crypto';
import { problem, type apiContract, type integrationContract, type ordersContract, type RelayContract, type storeContract } from '@msa-poc/contracts';
import type { Client, Handlers } from '@msa-poc/platform/service';
import { verifyRequest } from '@msa-poc/platform/signatures';
import { identifyCaller } from '@msa-poc/platform/tracing';
import type { AuditTrail } from './audit.js';
import type { EdgeAuth, Principal } from './edge-auth.js';
import type { SupportGrants } from './support-grants.js';

export interface EdgeDeps {
  readonly orders: Client<typeof ordersContract>;
  readonly integration: Client<typeof integrationContract>;
  readonly store: Client<typeof storeContract>;
  readonly grants: SupportGrants;
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

export function gatewayApi({ orders, integration, relay, store, grants, auth, jwks, partnerKey, seenNonce, audit }: EdgeDeps): Handlers<typeof apiContract> {
  /** Every decision on support access is audited with who asked, about which grant, and how it ended. */
  const auditSupport = <R extends { status: number; body: unknown; readonly headers?: Readonly<Record<string, string>> }>(caller: Principal, action: string, target: string, reply: R): R => {
    const body = reply.body as { status?: string; customerId?: string; ticketId?: string; detail?: string };
    const detail = reply.status < 300 ? `grant ${body.status} for customer ${body.customerId} (ticket ${body.ticketId})` : `status ${reply.status}: ${body.detail ?? ''}`;
    audit.record({ actor: caller.clientId, keyThumbprint: caller.keyThumbprint, action, outcome: reply.status < 300 ? 'succeeded' : 'refused', target, detail: detail.slice(0, 500) });
    return withHeaders(reply, caller.headers);
  };
  const decide = async (http: Parameters<EdgeAuth['authenticate']>[0], id: string, decision: 'approve' | 'reject') => {
    const caller = await auth.authenticate(http);
    return auditSupport(caller, `support.${decision}`, `grant ${id}`, await store.decideSupportAccess({ params: { id }, body: { by: caller.clientId, decision } }));
  };
  /** A break-glass change is audited by the store in the transaction that makes it; a refusal here. */
  const auditRefusal = <R extends { status: number; body: unknown; readonly headers?: Readonly<Record<string, string>> }>(caller: Principal, action: string, target: string, reply: R): R =>
    reply.status < 300 ? withHeaders(reply, caller.headers) : auditSupport(caller, action, target, reply);
  const thumbprintOf = (caller: Principal) => (caller.keyThumbprint ? { keyThumbprint: caller.keyThumbprint } : {});
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
    requestSupportAccess: async ({ http, body }) => {
      const caller = await auth.authenticate(http);
      const reply = await store.requestSupportAccess({ body: { requester: caller.clientId, ...body } });
      return auditSupport(caller, 'support.request', reply.status === 201 ? `grant ${reply.body.id}` : `customer ${body.customerId}`, reply);
    },
    approveSupportAccess: ({ http, params }) => decide(http, params.id, 'approve'),
    rejectSupportAccess: ({ http, params }) => decide(http, params.id, 'reject'),
    revokeSupportAccess: async ({ http, params }) => {
      const caller = await auth.authenticate(http);
      const reply = await store.revokeSupportAccess({ params, body: { by: caller.clientId } });
      // This replica refuses the grant at once; others within their cache time.
      grants.forget(params.id);
      return auditSupport(caller, 'support.revoke', `grant ${params.id}`, reply);
    },
    listSupportGrants: async ({ http }) => {
      const caller = await auth.authenticate(http);
      return withHeaders(await store.listSupportGrants({ query: { by: caller.clientId } }), caller.headers);
    },
    getSupportGrantLog: async ({ http, params, query }) => {
      const caller = await auth.authenticate(http);
      return withHeaders(await store.getSupportGrantLog({ params, query: { by: caller.clientId, ...query } }), caller.headers);
    },
    breakGlass: async ({ http, body }) => {
      const caller = await auth.authenticate(http);
      const reply = await store.breakGlass({ body: { requester: caller.clientId, ...thumbprintOf(caller), ...body } });
      return auditRefusal(caller, 'support.break-glass', `customer ${body.customerId}`, reply);
    },
    reviewBreakGlass: async ({ http, params, body }) => {
      const caller = await auth.authenticate(http);
      const reply = await store.reviewBreakGlass({ params, body: { by: caller.clientId, ...thumbprintOf(caller), ...body } });
      return auditRefusal(caller, 'support.break-glass-review', `grant ${params.id}`, reply);
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
