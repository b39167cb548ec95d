import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Order } from '@msa-poc/contracts';
import { audit, type OrderReader } from './audit.js';
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

const storeWith = (orders: Record<string, string>): OrderReader => async (id) => (orders[id] ? ({ id, status: orders[id] } as unknown as Order) : null);

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

test('without the partner ledger (a --target run) delivery is read from the order state, and duplicates are not measured rather than zero', async () => {
  const placements = [placement('o1', 'acknowledged'), placement('o2', 'acknowledged'), placement('o3', 'acknowledged')];
  let reads = 0;
  const flaky: OrderReader = async (id) => {
    reads++;
    if (id === 'o3') return undefined; // the read failed: unknown, not lost
    return ({ o1: { id, status: 'fulfilled' }, o2: { id, status: 'placed' } } as unknown as Record<string, Order>)[id] ?? null;
  };
  const result = await audit(placements, flaky, undefined, { settleMs: 0 });
  assert.equal(result.duplicates, null);
  assert.equal(result.lost, 0, 'a failed read is not a lost order');
  assert.equal(result.unverified, 1);
  assert.deepEqual(result.undeliveredOrderIds, ['o2']);
  assert.equal(result.delivered, 1);
  assert.ok(reads >= 3);
});
