/**
 * The bare orders: the real service's catalog cache and pricing in front of the bare store, with
 * no caller assertion to verify and no schema to check.
 */
import type { PlaceOrderInput, Product } from '@msa-poc/contracts';
import { uuidv7 } from '@msa-poc/platform/ids';
import { Catalog } from '@msa-poc/orders/catalog';
import { priceOrder, requestHash } from '@msa-poc/orders/order';
import { fetchJson, forward, json, portFrom, serve, upstream } from './http.js';

const store = upstream(`http://127.0.0.1:${portFrom('BENCH_BARE_STORE_PORT')}`);
// The real service's default time to live.
const catalog = new Catalog(async () => (await fetchJson<{ items: Product[] }>(store, '/products')).items, 5_000);

serve('orders', portFrom('BENCH_BARE_ORDERS_PORT'), async ({ method, path, headers, body }) => {
  if (method === 'GET' && path === '/products') return json(200, { items: await catalog.list() });
  if (method === 'GET' && path.startsWith('/orders/')) return forward(store, 'GET', path);
  if (method === 'POST' && path === '/orders') {
    const input = body as PlaceOrderInput;
    const pricing = priceOrder(input, await catalog.products());
    if (!pricing.ok) return json(422, { error: pricing.detail });
    return forward(store, 'POST', '/orders', {
      order: { id: uuidv7(), customerId: input.customerId, items: pricing.items, total: pricing.total, shippingAddress: input.shippingAddress },
      requestHash: requestHash(input),
    }, { 'idempotency-key': String(headers['idempotency-key']) });
  }
  return undefined;
});
