/** The public API, served by the gateway at https://127.0.0.1:8443. */
import { Type } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { Ack, FulfilmentCallback, IdempotencyKey, ListOrdersQuery, Order, OrderPage, OrderParams, PlaceOrderInput, ProductList } from './schemas.js';

const authErrors = { 401: Problem, 403: Problem, 429: Problem } as const;

export const apiContract = contract({
  service: 'gateway',
  version: '1.0.0',
  routes: {
    listProducts: route({
      method: 'GET', path: '/v1/products', summary: 'The catalog.',
      responses: { 200: ProductList, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
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
    }),
    listOrders: route({
      method: 'GET', path: '/v1/orders', summary: "A customer's orders, newest first, by cursor.",
      query: ListOrdersQuery, responses: { 200: OrderPage, 400: Problem, ...authErrors }, callers: 'public', scope: 'orders:read', idempotent: true,
    }),
    cancelOrder: route({
      method: 'POST', path: '/v1/orders/:id/cancel', summary: 'Cancel an order; 409 where its state forbids it.',
      params: OrderParams, responses: { 200: Order, 404: Problem, 409: Problem, ...authErrors }, callers: 'public', scope: 'orders:write', idempotent: true,
    }),
    partnerCallback: route({
      method: 'POST', path: '/v1/partner/callbacks', summary: "The partner's fulfilment callback, signed with HTTP Message Signatures (RFC 9421, Ed25519).",
      body: FulfilmentCallback, responses: { 200: Ack, 401: Problem, 404: Problem, 409: Problem }, callers: 'public', idempotent: true,
    }),
  },
});
