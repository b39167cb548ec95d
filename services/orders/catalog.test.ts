import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Product } from '@msa-poc/contracts';
import { Catalog } from './catalog.js';

const product = (stock: number): Product => ({ sku: 'SKU-0001', name: 'Lamp', price: { amount: '1.00', currency: 'EUR' }, stock });

test('serves from cache within the TTL, refetches after it or after invalidation, and shares concurrent fetches', async () => {
  let now = 0;
  let loads = 0;
  const catalog = new Catalog(async () => [product(++loads)], 1_000, () => now);
  const [a, b] = await Promise.all([catalog.list(), catalog.list()]);
  assert.equal(loads, 1, 'concurrent readers share one fetch');
  assert.equal(a, b);
  now = 999;
  await catalog.list();
  assert.equal(loads, 1);
  now = 1_000;
  assert.equal((await catalog.list())[0]?.stock, 2);
  catalog.invalidate();
  assert.equal((await catalog.products()).get('SKU-0001')?.stock, 3);
});

test('an expired catalog is served when the store cannot be reached, and refreshed once it can', async () => {
  let now = 0;
  let fail = false;
  let loads = 0;
  const catalog = new Catalog(async () => {
    if (fail) throw new Error('store down');
    return [product(++loads)];
  }, 1_000, () => now);
  await catalog.list();
  fail = true;
  now = 5_000;
  assert.equal((await catalog.list())[0]?.stock, 1, 'stale copy served');
  assert.equal(catalog.staleServed, 1);
  fail = false;
  assert.equal((await catalog.list())[0]?.stock, 2, 'fresh again');
});

test('a failed first fetch is an error, and the next read tries again', async () => {
  let fail = true;
  const catalog = new Catalog(async () => {
    if (fail) throw new Error('store down');
    return [product(1)];
  }, 1_000);
  await assert.rejects(catalog.list(), /store down/);
  fail = false;
  assert.equal((await catalog.list()).length, 1);
});
