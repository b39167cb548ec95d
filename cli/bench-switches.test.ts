/**
 * The whole system with every bench switch off (POC_BENCH_DISABLE), as `npm run bench` starts its
 * variants: it still serves the read and the write path, each process says which variant it is,
 * and the switched-off features really do nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { benchFeatures } from '@msa-poc/platform/config';
import type { Order, PlaceOrderInput, Product } from '@msa-poc/contracts';
import { startTestSystem, type TestSystem } from './testing.js';

const order: PlaceOrderInput = { customerId: 'cust-bench', items: [{ sku: 'SKU-0003', quantity: 1 }], shippingAddress: { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' } };

/** A request to the gateway with no credentials at all, trusting only our CA. */
function bare(origin: string, ca: Buffer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsRequest(`${origin}${path}`, { ca }, (res) => {
      let data = '';
      res.on('data', (chunk) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    }).on('error', reject).end();
  });
}

describe('the system with every bench switch off', { timeout: 180_000 }, () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ withConsole: true, env: { POC_BENCH_DISABLE: benchFeatures.join(','), OTEL_BSP_SCHEDULE_DELAY: '100', POC_RATE_LIMIT_CLIENTS: 'bench=5000:10000' } });
  });
  after(async () => {
    await system?.dispose();
  });

  test('serves the read and the write path end to end; orders are placed and, with no outbox, never fulfilled', async () => {
    const products = await system.api.call<{ items: Product[] }>('GET', '/v1/products');
    assert.equal(products.status, 200, JSON.stringify(products.body));
    assert.ok(products.body.items.length > 0);
    const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order, headers: { 'idempotency-key': `bench-${Date.now()}` } });
    assert.equal(placed.status, 201, JSON.stringify(placed.body));
    const read = await system.api.call<Order>('GET', `/v1/orders/${placed.body.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.id, placed.body.id);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await system.api.call<Order>('GET', `/v1/orders/${placed.body.id}`)).body.status, 'placed', 'no event, so no fulfilment');
  });

  test('auth off: the gateway answers /v1 without a token or proof, still over TLS', async () => {
    const { gateway } = system.config.endpoints;
    assert.match(gateway.url, /^https:/);
    const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
    const reply = await bare(gateway.url, ca, '/v1/orders?customerId=cust-bench');
    assert.equal(reply.status, 200, reply.body);
  });

  test('mtls off: the internal services answer plain HTTP, with no certificate', async () => {
    for (const name of ['orders', 'store', 'integration'] as const) {
      const { url } = system.config.endpoints[name];
      assert.match(url, /^http:/);
      const response = await fetch(`${url}/openapi.json`);
      assert.equal(response.status, 200, name);
    }
  });

  test('every service names the variant: one startup warning, and a gauge per switch on its admin /metrics, with no request observed', async () => {
    for (const [name, service] of system.services) {
      const warnings = system.logs.filter((line) => line.startsWith(`${name} `) && line.includes('switched off (POC_BENCH_DISABLE)'));
      assert.equal(warnings.length, 1, `${name}: ${warnings.join('\n')}`);
      assert.match(warnings[0] as string, /no order is ever fulfilled/);
      const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
      for (const feature of benchFeatures) assert.match(metrics, new RegExp(`bench_disabled_feature\\{feature="${feature}",service="${name}"\\} 1`), name);
      assert.doesNotMatch(metrics, /http_server_request_duration_seconds_count|http_client_request_duration_seconds_count|db_client_operation_duration_seconds_count/, name);
    }
  });

  test('tracing off: the console the services would export to receives no span', async () => {
    const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order, headers: { 'idempotency-key': `bench-traced-${Date.now()}` } });
    assert.equal(placed.status, 201);
    assert.match(String(placed.headers['x-trace-id']), /^[0-9a-f]{32}$/, 'trace ids still flow');
    await new Promise((r) => setTimeout(r, 1_000));
    const traces = (await (await fetch(`${system.console?.url}/api/traces`)).json()) as { items: unknown[] };
    assert.deepEqual(traces.items, []);
  });
});
