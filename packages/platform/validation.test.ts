import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { PlaceOrderInput, ListOrdersQuery } from '@msa-poc/contracts';
import { unsafeText, validate } from './validation.js';

const good = { customerId: 'c-1', items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1000', country: 'BE' } };

test('accepts a valid order and rejects unknown properties, with the path', () => {
  assert.equal(validate(PlaceOrderInput, good).ok, true);
  const extra = validate(PlaceOrderInput, { ...good, admin: true });
  assert.equal(extra.ok, false);
  const nested = validate(PlaceOrderInput, { ...good, items: [{ sku: 'SKU-0001', quantity: 1, price: '0.01' }] });
  assert.ok(!nested.ok && nested.errors.some((e) => e.path.startsWith('/items/0')));
});

test('rejects NUL characters and lone surrogates anywhere, keys included', () => {
  assert.equal(unsafeText({ a: ['ok', 'b\u0000c'] })?.path, '/a/1');
  assert.match(unsafeText({ a: 'x\ud800y' })?.message ?? '', /surrogate/);
  assert.equal(unsafeText({ ['k\udc00']: 1 })?.path, '/k\udc00');
  assert.equal(unsafeText({ a: 'emoji \u{1F600} is fine' }), undefined);
  const result = validate(PlaceOrderInput, { ...good, customerId: 'c\u0000' });
  assert.ok(!result.ok && /NUL/.test(result.errors[0]?.message ?? ''));
});

test('rejects wrong types, missing fields and oversized arrays', () => {
  for (const bad of [{ ...good, items: 'x' }, { ...good, items: [] }, { customerId: 'c' }, { ...good, items: Array.from({ length: 5000 }, () => ({ sku: 'SKU-0001', quantity: 1 })) }, null, 42]) {
    assert.equal(validate(PlaceOrderInput, bad).ok, false, JSON.stringify(bad)?.slice(0, 60));
  }
});

test('coerces query strings and applies defaults only when asked', () => {
  const coerced = validate<{ limit: number }>(ListOrdersQuery, { customerId: 'c', limit: '5' }, { coerce: true });
  assert.ok(coerced.ok && coerced.value.limit === 5);
  const defaulted = validate<{ limit: number }>(ListOrdersQuery, { customerId: 'c' }, { coerce: true });
  assert.ok(defaulted.ok && defaulted.value.limit === 20);
  assert.equal(validate(ListOrdersQuery, { customerId: 'c', limit: '5' }).ok, false);
  assert.equal(validate(ListOrdersQuery, { customerId: 'c', limit: 'many' }, { coerce: true }).ok, false);
});

test('caps the number of reported errors', () => {
  const schema = Type.Object(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, Type.String()])));
  const result = validate(schema, {});
  assert.ok(!result.ok && result.errors.length === 10);
});
