/** The fulfilment partner's API: an external system, reached over TLS, authenticated by signatures. */
import { Type } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { IdempotencyKey, OrderId, ShippingAddress, Sku } from './schemas.js';

export const FulfilmentRequest = Type.Object(
  {
    orderId: OrderId,
    items: Type.Array(Type.Object({ sku: Sku, quantity: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), { minItems: 1, maxItems: 50 }),
    shippingAddress: ShippingAddress,
  },
  { additionalProperties: false },
);

export const FulfilmentReceipt = Type.Object(
  { fulfilmentId: Type.String(), orderId: OrderId, status: Type.Literal('accepted') },
  { additionalProperties: false },
);

export const partnerContract = contract({
  service: 'partner',
  version: '1.0.0',
  routes: {
    submitFulfilment: route({
      method: 'POST', path: '/fulfilments',
      summary: 'Ask the partner to ship an order. Signed (RFC 9421, Ed25519); the order id is the idempotency key.',
      headers: Type.Object({ 'idempotency-key': IdempotencyKey }),
      body: FulfilmentRequest,
      responses: { 202: FulfilmentReceipt, 200: FulfilmentReceipt, 401: Problem, 422: Problem, 503: Problem }, callers: ['integration'], idempotent: true,
    }),
  },
});
