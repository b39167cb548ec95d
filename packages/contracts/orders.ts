/** Orders: the core business logic. Pricing, stock rules and the order state machine. */
import { Type } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { EndUserHeaders, IdempotencyKey, CallerAssertion, ListOrdersQuery, Order, OrderPage, OrderParams, PlaceOrderInput, ProductList } from './schemas.js';

export const ordersContract = contract({
  service: 'orders',
  version: '2.0.0',
  routes: {
    listProducts: route({
      method: 'GET', path: '/products', summary: 'The catalog.',
      headers: EndUserHeaders, responses: { 200: ProductList }, callers: ['gateway'], idempotent: true,
    }),
    placeOrder: route({
      method: 'POST', path: '/orders', summary: 'Price and place an order, once per idempotency key.',
      headers: Type.Object({ 'idempotency-key': IdempotencyKey, 'caller-assertion': CallerAssertion }),
      body: PlaceOrderInput,
      responses: { 201: Order, 200: Order, 401: Problem, 403: Problem, 409: Problem, 422: Problem }, callers: ['gateway'], idempotent: true,
    }),
    getOrder: route({
      method: 'GET', path: '/orders/:id', summary: 'One order.',
      headers: EndUserHeaders, params: OrderParams, responses: { 200: Order, 401: Problem, 404: Problem }, callers: ['gateway'], idempotent: true,
    }),
    listOrders: route({
      method: 'GET', path: '/orders', summary: "A customer's orders, newest first.",
      headers: EndUserHeaders, query: ListOrdersQuery, responses: { 200: OrderPage, 400: Problem, 401: Problem, 404: Problem }, callers: ['gateway'], idempotent: true,
    }),
    cancelOrder: route({
      method: 'POST', path: '/orders/:id/cancel', summary: 'Cancel a placed order and return its stock.',
      headers: EndUserHeaders, params: OrderParams, responses: { 200: Order, 401: Problem, 404: Problem, 409: Problem }, callers: ['gateway'], idempotent: true,
    }),
    fulfilOrder: route({
      method: 'POST', path: '/orders/:id/fulfil', summary: 'Record the partner\'s fulfilment of an order.',
      params: OrderParams,
      body: Type.Object({ fulfilmentId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
      responses: { 200: Order, 404: Problem, 409: Problem }, callers: ['integration'], idempotent: true,
    }),
    failOrder: route({
      method: 'POST', path: '/orders/:id/fail', summary: 'Mark an order failed: the partner could not take it after every retry. Stock is returned.',
      params: OrderParams,
      body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }), causeId: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
      responses: { 200: Order, 404: Problem, 409: Problem }, callers: ['integration'], idempotent: true,
    }),
  },
});
