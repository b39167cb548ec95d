/** The public API, served by the gateway at https://127.0.0.1:8443. */
import { Type } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { RelayQuery, RelayReply } from './synthetic.js';
import { orderPagePolicy, orderPolicy, problemViews, productListPolicy } from './masking.js';
import {
  Ack, BreakGlassRequest, BreakGlassReview, FulfilmentCallback, IdempotencyKey, ListOrdersQuery, Order, OrderPage, OrderParams, PlaceOrderInput, ProductList, SupportAccessRequest, SupportGrant, SupportGrantId, SupportGrantList, SupportGrantLog, SupportGrantLogQuery,
} from './schemas.js';

const authErrors = { 401: Problem, 403: Problem, 429: Problem } as const;
/** Every problem a support request can be answered with, its own refusals and its dependencies' failures alike. */
const supportProblems = problemViews(400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504);

const OAuthError = Type.Object(
  { error: Type.String(), error_description: Type.Optional(Type.String()) },
  { additionalProperties: false, description: 'RFC 6749 §5.2 error response' },
);

export const TokenResponse = Type.Object(
  {
    access_token: Type.String(), token_type: Type.Literal('DPoP'), expires_in: Type.Integer({ minimum: 1 }), scope: Type.String(),
    /** Present on a token exchange (RFC 8693 §2.2.1). */
    issued_token_type: Type.Optional(Type.Literal('urn:ietf:params:oauth:token-type:access_token')),
  },
  { additionalProperties: false },
);

const GrantParams = Type.Object({ id: SupportGrantId }, { additionalProperties: false });
const supportErrors = { 401: Problem, 403: Problem, 404: Problem, 409: Problem, 429: Problem } as const;

const Jwks = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.String())) }, { additionalProperties: false });

export const apiContract = contract({
  service: 'gateway',
  version: '3.1.0',
  routes: {
    token: route({
      method: 'POST', path: '/oauth/token',
      summary: 'Client credentials grant: private_key_jwt client authentication (RFC 7523) and a DPoP proof (RFC 9449); issues a DPoP-bound access token (RFC 9068). Token exchange (RFC 8693): a support engineer\'s own token and an approved grant (RFC 9396 authorization_details) for a support token.',
      // application/x-www-form-urlencoded, as RFC 6749 requires; parsed into single-valued fields.
      body: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 8192 }), { maxProperties: 16 }),
      bodyMediaType: 'application/x-www-form-urlencoded',
      responses: { 200: TokenResponse, 400: OAuthError, 401: OAuthError, 503: OAuthError }, callers: 'public', idempotent: false,
    }),
    jwks: route({
      method: 'GET', path: '/.well-known/jwks.json', summary: "The gateway's public token-signing keys.",
      responses: { 200: Jwks }, callers: 'public', idempotent: true,
    }),
    listProducts: route({
      method: 'GET', path: '/v1/products', summary: 'The catalog.',
      responses: { 200: ProductList, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
      support: { ...supportProblems, 200: productListPolicy },
    }),
    placeOrder: route({
      method: 'POST', path: '/v1/orders', summary: 'Place an order. The same Idempotency-Key and body return the same order.',
      headers: Type.Object({ 'idempotency-key': IdempotencyKey }),
      body: PlaceOrderInput,
      responses: { 201: Order, 200: Order, 409: Problem, 422: Problem, ...authErrors }, callers: 'public', scope: 'orders:write', idempotent: true,
    }),
    getOrder: route({
      method: 'GET', path: '/v1/orders/:id', summary: 'One order.',
      params: OrderParams, responses: { 200: Order, 404: Problem, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
      support: { ...supportProblems, 200: orderPolicy },
    }),
    listOrders: route({
      method: 'GET', path: '/v1/orders', summary: "A customer's orders, newest first, by cursor.",
      query: ListOrdersQuery, responses: { 200: OrderPage, 400: Problem, 404: Problem, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
      support: { ...supportProblems, 200: orderPagePolicy },
    }),
    cancelOrder: route({
      method: 'POST', path: '/v1/orders/:id/cancel', summary: 'Cancel an order; 409 where its state forbids it.',
      params: OrderParams, responses: { 200: Order, 404: Problem, 409: Problem, ...authErrors }, callers: 'public', scope: 'orders:write', idempotent: true,
    }),
    requestSupportAccess: route({
      method: 'POST', path: '/v1/support/access-requests', summary: 'A support engineer asks for time-bound access to one customer\'s data, for a ticket; a support lead must approve it.',
      body: SupportAccessRequest, responses: { 201: SupportGrant, ...supportErrors }, callers: 'public', idempotent: false,
    }),
    approveSupportAccess: route({
      method: 'POST', path: '/v1/support/access-requests/:id/approve', summary: 'A support lead other than the requester approves a request: the grant runs from now for its duration.',
      params: GrantParams, responses: { 200: SupportGrant, ...supportErrors }, callers: 'public', idempotent: false,
    }),
    rejectSupportAccess: route({
      method: 'POST', path: '/v1/support/access-requests/:id/reject', summary: 'A support lead other than the requester rejects a request.',
      params: GrantParams, responses: { 200: SupportGrant, ...supportErrors }, callers: 'public', idempotent: false,
    }),
    revokeSupportAccess: route({
      method: 'POST', path: '/v1/support/access-requests/:id/revoke', summary: 'The requester or a support lead ends a request or a live grant at once.',
      params: GrantParams, responses: { 200: SupportGrant, ...supportErrors }, callers: 'public', idempotent: true,
    }),
    listSupportGrants: route({
      method: 'GET', path: '/v1/support/grants', summary: 'Access requests and grants, newest first: a support lead sees every one, an engineer their own.',
      responses: { 200: SupportGrantList, 401: Problem, 403: Problem, 429: Problem }, callers: 'public', idempotent: true,
    }),
    getSupportGrantLog: route({
      method: 'GET', path: '/v1/support/grants/:id/log', summary: 'Every response served under a grant, exactly as served (masked), oldest first, with its audit position, a page at a time (`after` the last position seen): for the requester and support leads.',
      params: GrantParams, query: SupportGrantLogQuery, responses: { 200: SupportGrantLog, 401: Problem, 403: Problem, 404: Problem, 429: Problem }, callers: 'public', idempotent: true,
    }),
    breakGlass: route({
      method: 'POST', path: '/v1/support/break-glass',
      summary: 'A support engineer opens access to one customer at once, for an incident, without approval: at most 900 seconds (15 minutes; longer is refused with break-glass-too-long), audited as break-glass and unreviewed until a support lead reviews it.',
      body: BreakGlassRequest, responses: { 201: SupportGrant, 422: Problem, ...supportErrors }, callers: 'public', idempotent: false,
    }),
    reviewBreakGlass: route({
      method: 'POST', path: '/v1/support/break-glass/:id/review', summary: 'A support lead other than the requester reviews a break-glass grant after the fact: justified or not, with a note.',
      params: GrantParams, body: BreakGlassReview, responses: { 200: SupportGrant, ...supportErrors }, callers: 'public', idempotent: false,
    }),
    partnerCallback: route({
      method: 'POST', path: '/v1/partner/callbacks', summary: "The partner's fulfilment callback, signed with HTTP Message Signatures (RFC 9421, Ed25519).",
      body: FulfilmentCallback, responses: { 200: Ack, 401: Problem, 404: Problem, 409: Problem }, callers: 'public', idempotent: true,
    }),
    relay: route({
      method: 'GET', path: '/v1/relay', summary: 'Cross the synthetic services of `poc up --topology synthetic:N`; 404 when the system runs none.',
      query: RelayQuery, responses: { 200: RelayReply, 404: Problem, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
    }),
  },
});
