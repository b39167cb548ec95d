import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { storeContract } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/client';
import { audit } from './audit.js';
import type { Placement } from './scenario.js';

const placement = (orderId: string | undefined, outcome: Placement['outcome']): Placement => ({
  key: `k-${orderId ?? Math.random()}`, outcome, ...(orderId ? { orderId } : {}),
  body: { customerId: 'c', items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'BE' } },
});

async function withLedger(entries: { orderId: string; accepts?: number; callbackDeliveredAt: string | null }[], fn: (url: string) => Promise<void>): Promise<void> {
  const server = createServer((_req, res) => res.end(JSON.stringify({ entries })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  try {
    await fn(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
  } finally {
    server.close();
  }
}

const storeWith = (orders: Record<string, string>) =>
  ({
    getOrder: async ({ params }: { params: { id: string } }) => (orders[params.id] ? { status: 200, body: { id: params.id, status: orders[params.id] } } : { status: 404, body: {} }),
  }) as unknown as Client<typeof storeContract>;

test('a store that drops an acknowledged write is caught: the order is counted lost and named', async () => {
  const placements = [placement('o1', 'acknowledged'), placement('o2', 'acknowledged'), placement('o3', 'acknowledged'), placement(undefined, 'indeterminate'), placement(undefined, 'failed')];
  await withLedger([{ orderId: 'o1', callbackDeliveredAt: 't' }, { orderId: 'o2', callbackDeliveredAt: 't' }], async (ledger) => {
    const result = await audit(placements, storeWith({ o1: 'fulfilled', o2: 'fulfilled' }), ledger, { settleMs: 0 });
    assert.equal(result.acknowledged, 3);
    assert.equal(result.indeterminate, 1);
    assert.equal(result.failed, 1);
    assert.equal(result.lost, 1);
    assert.deepEqual(result.lostOrderIds, ['o3']);
    assert.equal(result.persisted, 2);
    assert.equal(result.duplicates, 0);
  });
});

test('a duplicate shipment and an order that never reached the partner are both counted; cancelled orders are not owed', async () => {
  const placements = [placement('o1', 'acknowledged'), placement('o2', 'acknowledged'), placement('o3', 'acknowledged')];
  await withLedger([{ orderId: 'o1', accepts: 2, callbackDeliveredAt: 't' }], async (ledger) => {
    const result = await audit(placements, storeWith({ o1: 'fulfilled', o2: 'placed', o3: 'cancelled' }), ledger, { settleMs: 0 });
    assert.equal(result.duplicates, 1);
    assert.equal(result.deliverable, 2);
    assert.deepEqual(result.undeliveredOrderIds, ['o2']);
    assert.equal(result.lost, 0);
  });
});
