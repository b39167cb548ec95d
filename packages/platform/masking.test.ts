import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { orderPolicy, type FieldPolicy } from '@msa-poc/contracts';
import { mask, MaskingError } from './masking.js';

const salt = randomBytes(32);
const order = {
  id: '01890000-0000-7000-8000-000000000001', customerId: 'cust-canary', status: 'placed', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
  total: { amount: '10.00', currency: 'EUR' },
  items: [{ sku: 'SKU-0001', name: 'Kettle', quantity: 1, unitPrice: { amount: '10.00', currency: 'EUR' }, lineTotal: { amount: '10.00', currency: 'EUR' } }],
  shippingAddress: { name: 'Quillon Canaryname', line1: '99 Canaryline Road', city: 'Lyon', postalCode: 'QX97ZZ', country: 'FR' },
};

test("an order is served by its policy: the name hashed, the street omitted, the postal code's first characters, the rest clear", () => {
  const { value, clear, masked } = mask(order, orderPolicy, salt);
  const served = value as typeof order;
  assert.equal(served.id, order.id);
  assert.deepEqual(served.items, order.items);
  assert.equal(served.shippingAddress.city, 'Lyon');
  assert.equal(served.shippingAddress.postalCode, 'QX***');
  assert.equal('line1' in served.shippingAddress, false);
  assert.match(served.shippingAddress.name, /^hash:[0-9a-f]{16}$/);
  assert.ok(!JSON.stringify(value).includes('Canary'), 'no canary in clear');
  assert.ok(clear.includes('items[].unitPrice.amount') && clear.includes('shippingAddress.city'));
  assert.deepEqual([...masked].sort(), ['shippingAddress.line1:omit', 'shippingAddress.name:hashed', 'shippingAddress.postalCode:partial']);
});

test('a hashed value depends on the grant\'s salt: not the unsalted SHA-256 of a guess, and different under another grant', () => {
  const name = (s: Buffer) => ((mask(order, orderPolicy, s).value as typeof order).shippingAddress.name);
  assert.equal(name(salt), name(salt), 'equal values compare equal within a grant');
  assert.notEqual(name(salt), name(randomBytes(32)));
  const dictionary = createHash('sha256').update(order.shippingAddress.name).digest('hex').slice(0, 16);
  assert.notEqual(name(salt), `hash:${dictionary}`);
  assert.throws(() => mask(order, orderPolicy, Buffer.alloc(0)), MaskingError, 'no salt, no hash');
});

test('a response field without a policy is masked: a new field is not served until the policy names it', () => {
  const withNewField = { ...order, loyaltyTier: 'gold-canary', shippingAddress: { ...order.shippingAddress, line2: 'Flat 7 Canaryhouse' } };
  const { value, masked } = mask(withNewField, orderPolicy, salt);
  assert.equal('loyaltyTier' in (value as object), false);
  assert.equal('line2' in (value as typeof order).shippingAddress, false);
  assert.ok(masked.includes('loyaltyTier:no-policy') && masked.includes('shippingAddress.line2:no-policy'));
  assert.deepEqual(mask(order, undefined, salt).value, {}, 'a response without any policy is served empty');
});

test('a short value shows nothing of itself; a shape the policy does not describe fails instead of serving clear', () => {
  const policy: FieldPolicy = { code: { partial: 'last', keep: 4 }, tags: ['clear'] };
  assert.deepEqual(mask({ code: 'ABCDEFGHIJ', tags: ['a'] }, policy, salt).value, { code: '***GHIJ', tags: ['a'] });
  assert.deepEqual(mask({ code: 'ABCD' }, policy, salt).value, { code: '***' });
  assert.throws(() => mask({ code: 12345678 }, policy, salt), MaskingError);
  assert.throws(() => mask({ tags: 'not-a-list' }, policy, salt), MaskingError);
  assert.throws(() => mask({ code: 'ABCDEFGHIJ' }, { code: { partial: 'first', keep: 0 } }, salt), MaskingError);
});
