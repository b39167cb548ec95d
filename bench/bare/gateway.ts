/** The bare gateway: the public read and write routes, routed to the bare orders as they are. */
import { forward, portFrom, serve, upstream } from './http.js';

const orders = upstream(`http://127.0.0.1:${portFrom('BENCH_BARE_ORDERS_PORT')}`);

serve('gateway', portFrom('BENCH_BARE_GATEWAY_PORT'), async ({ method, path, headers, body }) => {
  if (method === 'GET' && path === '/v1/products') return forward(orders, 'GET', '/products');
  if (method === 'GET' && path.startsWith('/v1/orders/')) return forward(orders, 'GET', path.slice('/v1'.length));
  if (method === 'POST' && path === '/v1/orders') return forward(orders, 'POST', '/orders', body, { 'idempotency-key': String(headers['idempotency-key'] ?? '') });
  return undefined;
});
