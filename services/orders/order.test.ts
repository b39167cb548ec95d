import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlaceOrderInput, Product } from '@msa-poc/contracts';
import { priceOrder, requestHash, returnsStock, statesLeadingTo, transitions } from './order.js';

const catalog = new Map<string, Product>([
  ['SKU-0001', { sku: 'SKU-0001', name: 'Lamp', price: { amount: '19.99', currency: 'EUR' }, stock: 5 }],
  ['SKU-0002', { sku: 'SKU-0002', name: 'Desk', price: { amount: '0.10', currency: 'EUR' }, stock: 5 }],
]);
const address = { name: 'A', line1: 'B', city: 'C', postalCode: '1000', country: 'BE' };
const input = (items: PlaceOrderInput['items']): PlaceOrderInput => ({ customerId: 'c1', items, shippingAddress: address });

test('prices each line from the catalog and totals in minor units without float drift', () => {
  const priced = priceOrder(input([{ sku: 'SKU-0001', quantity: 3 }, { sku: 'SKU-0002', quantity: 3 }]), catalog);
  assert.ok(priced.ok);
  assert.deepEqual(priced.items.map((i) => i.unitPrice.amount), ['19.99', '0.10']);
  assert.equal(priced.total.amount, '60.27'); // 0.1 * 3 in floats would be 0.30000000000000004
});

test('merges lines naming the same product', () => {
  const priced = priceOrder(input([{ sku: 'SKU-0001', quantity: 1 }, { sku: 'SKU-0001', quantity: 2 }]), catalog);
  assert.ok(priced.ok);
  assert.deepEqual(priced.items.map((i) => [i.sku, i.quantity]), [['SKU-0001', 3]]);
  assert.equal(priced.total.amount, '59.97');
});

test('refuses unknown products, naming them', () => {
  const priced = priceOrder(input([{ sku: 'SKU-0001', quantity: 1 }, { sku: 'SKU-0404', quantity: 1 }]), catalog);
  assert.equal(priced.ok, false);
  assert.ok(!priced.ok && priced.rule === 'unknown-sku' && priced.detail.includes('SKU-0404'));
});

test('refuses more than the per-product limit once lines are merged', () => {
  const priced = priceOrder(input([{ sku: 'SKU-0001', quantity: 60 }, { sku: 'SKU-0001', quantity: 60 }]), catalog);
  assert.ok(!priced.ok && priced.rule === 'quantity');
});

test('the state machine: only placed orders move, to fulfilled, cancelled or failed', () => {
  assert.deepEqual(statesLeadingTo('fulfilled'), ['placed']);
  assert.deepEqual(statesLeadingTo('cancelled'), ['placed']);
  assert.deepEqual(statesLeadingTo('placed'), []);
  for (const terminal of ['fulfilled', 'cancelled', 'failed'] as const) assert.deepEqual(transitions[terminal], []);
  assert.equal(returnsStock('cancelled'), true);
  assert.equal(returnsStock('failed'), true);
  assert.equal(returnsStock('fulfilled'), false);
});

test('the request hash ignores key order but not content', () => {
  const a = input([{ sku: 'SKU-0001', quantity: 1 }]);
  const reordered = { shippingAddress: { country: 'BE', postalCode: '1000', city: 'C', line1: 'B', name: 'A' }, items: [{ quantity: 1, sku: 'SKU-0001' }], customerId: 'c1' };
  assert.equal(requestHash(a), requestHash(reordered as PlaceOrderInput));
  assert.notEqual(requestHash(a), requestHash(input([{ sku: 'SKU-0001', quantity: 2 }])));
  assert.match(requestHash(a), /^[A-Za-z0-9_-]{43}$/);
});
