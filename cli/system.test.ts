/**
 * The reference system end to end, as real processes over mutual TLS: what a newcomer sees after
 * `poc up`, and what must hold when things go wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eur, ordersContract, storeContract, toMinor, type PlaceOrderInput } from '@msa-poc/contracts';
import { startTestSystem, type TestSystem } from './testing.js';

const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const order = (customerId: string, sku = 'SKU-0001', quantity = 2): PlaceOrderInput => ({ customerId, items: [{ sku, quantity }], shippingAddress: address });

/** One HTTPS request trusting only our CA, returning what a client would see. */
function fetchInsecureFree(origin: string, ca: Buffer, r: { method: string; path: string; body?: string; headers?: Record<string, string> }) {
  return new Promise<{ status: number; body: string; contentType: string; requestId: string; traceId: string }>((resolve, reject) => {
    const req = httpsRequest(`${origin}${r.path}`, { method: r.method, ca, headers: { 'content-type': 'application/json', ...r.headers } }, (res) => {
      let data = '';
      res.on('data', (chunk) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, contentType: String(res.headers['content-type']), requestId: String(res.headers['x-request-id'] ?? ''), traceId: String(res.headers['x-trace-id'] ?? '') }));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const profile of ['embedded', 'production'] as const) {
  describe(`reference system (${profile} profile)`, { timeout: 180_000 }, () => {
    let system: TestSystem;
    before(async () => {
      system = await startTestSystem({ profile });
    });
    after(async () => {
      await system?.dispose();
    });

    test('an order is placed once per key, replayed, refused with another body, and fulfilled by the partner', async () => {
      const orders = system.client(ordersContract, 'gateway').client;
      const key = `key-${profile}-${Date.now()}`;
      const first = await orders.placeOrder({ headers: { 'idempotency-key': key }, body: order('cust-1') });
      assert.equal(first.status, 201);
      assert.equal(first.body.status, 'placed');
      assert.equal(first.body.items[0]?.quantity, 2);
      assert.match(first.body.total.amount, /^\d+\.\d{2}$/);

      const replay = await orders.placeOrder({ headers: { 'idempotency-key': key }, body: order('cust-1') });
      assert.equal(replay.status, 200);
      assert.equal(replay.body.id, first.body.id);

      const other = await orders.placeOrder({ headers: { 'idempotency-key': key }, body: order('cust-1', 'SKU-0002') });
      assert.equal(other.status, 422);
      assert.match(other.body.type, /idempotency-key-reused$/);

      const fulfilled = await eventually('fulfilment', async () => {
        const current = await orders.getOrder({ params: { id: (first.body as { id: string }).id } });
        return current.status === 200 && current.body.status === 'fulfilled' ? current.body : undefined;
      });
      assert.equal(fulfilled.id, first.body.id);
    });

    test('out of stock is 409 and unknown SKUs are 422; nothing is written', async () => {
      const orders = system.client(ordersContract, 'gateway').client;
      const unknown = await orders.placeOrder({ headers: { 'idempotency-key': `unknown-${Date.now()}` }, body: order('cust-2', 'SKU-9999') });
      assert.equal(unknown.status, 422);
      assert.match(unknown.body.type, /unknown-sku$/);
      const products = await orders.listProducts({});
      const product = products.body.items.find((p) => p.sku === 'SKU-0050');
      assert.ok(product);
      // Orders caps quantities per line, so the store is asked directly for one more than its stock.
      const tooMany = await system.client(storeContract, 'orders').client.placeOrder({
        headers: { 'idempotency-key': `stock-${Date.now()}` },
        body: {
          requestHash: 'x'.repeat(43),
          order: {
            id: '01890000-0000-7000-8000-000000000001', customerId: 'cust-2', shippingAddress: address,
            items: [{ sku: 'SKU-0050', quantity: product.stock + 1, unitPrice: product.price }], total: eur(toMinor(product.price.amount) * (product.stock + 1)),
          },
        },
      });
      assert.equal(tooMany.status, 409);
      assert.match(tooMany.body.detail ?? '', /SKU-0050/);
      const after = await orders.listProducts({});
      assert.equal(after.body.items.find((p) => p.sku === 'SKU-0050')?.stock, product.stock);
    });

    test('cancel is allowed once from placed and refused after fulfilment', async () => {
      const orders = system.client(ordersContract, 'gateway').client;
      const placed = await orders.placeOrder({ headers: { 'idempotency-key': `cancel-${Date.now()}` }, body: order('cust-3', 'SKU-0003', 1) });
      assert.equal(placed.status, 201);
      const id = (placed.body as { id: string }).id;
      const fulfilled = await eventually('fulfilment', async () => {
        const current = await orders.getOrder({ params: { id } });
        return current.status === 200 && current.body.status === 'fulfilled' ? current.body : undefined;
      });
      assert.equal(fulfilled.status, 'fulfilled');
      const cancel = await orders.cancelOrder({ params: { id } });
      assert.equal(cancel.status, 409);
      assert.match(cancel.body.type, /invalid-transition$/);
    });

    test('a storm of malformed requests at the edge is answered with 4xx problem documents, and the gateway stays up', async () => {
      const origin = system.config.endpoints.gateway.url;
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const good = JSON.stringify(order('storm'));
      const bodies = [
        '{', '[]', 'null', '"text"', '{"customerId":1}', good.replace('"quantity":2', '"quantity":-1'), good.replace('"quantity":2', '"quantity":"2"'),
        good.replace('"customerId":"storm"', '"customerId":"a\\u0000b"'), good.replace('"customerId":"storm"', '"customerId":"\\ud800"'),
        good.replace('{', '{"__proto__":{"polluted":true},'), good.replace('{', '{"extra":1,'),
        JSON.stringify({ ...order('storm'), items: Array.from({ length: 5000 }, () => ({ sku: 'SKU-0001', quantity: 1 })) }),
        'x'.repeat(200_000), good.replace('"SKU-0001"', '"../../etc/passwd"'),
      ];
      const requests: { method: string; path: string; body?: string; headers?: Record<string, string> }[] = [
        ...bodies.map((body) => ({ method: 'POST', path: '/v1/orders', body, headers: { 'idempotency-key': 'storm-key-123' } })),
        { method: 'POST', path: '/v1/orders', body: good },
        { method: 'POST', path: '/v1/orders', body: good, headers: { 'idempotency-key': 'short' } },
        { method: 'POST', path: '/v1/orders', body: good, headers: { 'content-type': 'text/plain', 'idempotency-key': 'storm-key-123' } },
        { method: 'GET', path: '/v1/orders/not-a-uuid' },
        { method: 'GET', path: '/v1/orders?customerId=%00' },
        { method: 'GET', path: '/v1/orders?customerId=c&limit=100000' },
        { method: 'GET', path: `/v1/orders/${'a'.repeat(5000)}` },
        { method: 'DELETE', path: '/v1/orders' },
        { method: 'GET', path: '/v1/../../etc/passwd' },
        { method: 'POST', path: '/v1/partner/callbacks', body: '{"orderId":"x"}' },
        { method: 'POST', path: '/v1/partner/callbacks', body: JSON.stringify({ orderId: '01890000-0000-7000-8000-000000000001', fulfilmentId: 'f1', status: 'fulfilled', fulfilledAt: new Date().toISOString() }) },
        { method: 'GET', path: '/v1/products', headers: { authorization: 'Bearer forged.token.here' } },
        { method: 'GET', path: '/v1/products', headers: { authorization: 'DPoP x', dpop: 'not-a-jwt' } },
      ];
      for (const r of requests) {
        const response = await fetchInsecureFree(origin, ca, r);
        assert.ok(response.status >= 400 && response.status < 500, `${r.method} ${r.path.slice(0, 60)} ${r.body?.slice(0, 50) ?? ''} → ${response.status} ${response.body.slice(0, 200)}`);
        assert.match(response.contentType, /application\/problem\+json/, `${r.method} ${r.path.slice(0, 60)} → ${response.status} ${response.contentType}`);
        assert.ok(response.requestId, 'x-request-id on every response');
        assert.match(response.traceId, /^[0-9a-f]{32}$/, 'x-trace-id on every response');
      }
      const health = await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/healthz`);
      assert.equal(health.status, 200);
    });

    test('the store refuses a caller the contract does not allow (403) and a caller without a certificate gets no connection', async () => {
      const asGateway = system.client(storeContract, 'gateway').client;
      await assert.rejects(asGateway.listProducts({}), (error: Error) => /403|forbidden/i.test(error.message) || /outside its contract|does not list/.test(error.message));
      const port = system.config.endpoints.store.port;
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }, () => {
          socket.write('GET /products HTTP/1.1\r\nhost: store\r\n\r\n');
        });
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('error', (error) => resolve(`error: ${error.message}`));
        socket.on('close', () => resolve(data ? `answered: ${data.slice(0, 40)}` : 'closed without answer'));
      });
      assert.doesNotMatch(outcome, /^answered/, outcome);
    });
  });
}
