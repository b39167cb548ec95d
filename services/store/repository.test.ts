import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { eur, toMinor, type AnyCloudEvent, type Order } from '@msa-poc/contracts';
import { openDatabase, type Database, type Queryable } from './database.js';
import { migrate } from './migrate.js';
import {
  BadCursorError, ackEvents, addDeadLetter, claimUnpublished, getOrder, isProcessed, latestPosition, listDeadLetterReplays, listDeadLetters, listOrders,
  listProducts, markPublished, outboxLag, placeOrder, readEvents, recordProcessed, replayDeadLetter, transitionOrder,
  type PlaceOrderInput, type PricedOrder, type ReplayRequest,
} from './repository.js';
import { backends, freshPgliteDir, type Backend } from './test-databases.js';
import { listAudit } from './audit.js';

const address = { name: 'Ada Lovelace', line1: '12 Analytical Row', city: 'London', postalCode: 'NW1 2AB', country: 'GB' };
const isoPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Counts the statements a function sends: through a pool or PGlite each query is one round trip. */
function counting(db: Queryable): Queryable & { texts: string[] } {
  const texts: string[] = [];
  return {
    texts,
    query: (sql, params) => {
      texts.push((typeof sql === 'string' ? sql : sql.text).trim().split(/\s+/).slice(0, 2).join(' '));
      return db.query(sql, params);
    },
  };
}

function cloudEvent(data: unknown, id = randomUUID()): AnyCloudEvent {
  return {
    specversion: '1.0', id, source: 'urn:msa-poc:orders', type: 'dev.msa-poc.order.placed.v1', time: new Date().toISOString(),
    datacontenttype: 'application/json', subject: 'orders.placed', data,
  };
}

function suite(backend: Backend) {
  let db: Database;
  let dispose: () => Promise<void>;
  const prices = new Map<string, number>();

  const order = (items: { sku: string; quantity: number }[], customerId = 'customer-1'): PricedOrder => {
    const priced = items.map((item) => ({ ...item, unitPrice: eur(prices.get(item.sku) ?? 100) }));
    const total = priced.reduce((sum, item) => sum + item.quantity * toMinor(item.unitPrice.amount), 0);
    return { id: randomUUID(), customerId, items: priced, total: eur(total), shippingAddress: address };
  };
  const request = (priced: PricedOrder, key = `key-${randomUUID()}`, requestHash = `hash-${key}`): PlaceOrderInput & { event: NonNullable<PlaceOrderInput['event']> } => {
    const payload = cloudEvent({ orderId: priced.id, customerId: priced.customerId, items: priced.items.map(({ sku, quantity }) => ({ sku, quantity })), total: priced.total, shippingAddress: priced.shippingAddress });
    return { key, requestHash, order: priced, event: { id: payload.id, type: payload.type, subject: 'orders.placed', payload } };
  };
  const stock = async (sku: string) => (await db.query<{ stock: number }>('SELECT stock FROM products WHERE sku = $1', [sku])).rows[0]?.stock;
  const setStock = (sku: string, value: number) => db.query('UPDATE products SET stock = $2 WHERE sku = $1', [sku, value]);
  const count = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]?.n;
  /** Resolves once a placeOrder statement is waiting for a lock held by another transaction. */
  const waitForLockWait = async (failure: string) => {
    const deadline = Date.now() + 5_000;
    while ((await count(`pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH input%'`)) === 0) {
      assert.ok(Date.now() < deadline, failure);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const created = async (input: PlaceOrderInput): Promise<Order> => {
    const result = await placeOrder(db, input);
    assert.equal(result.outcome, 'created', JSON.stringify(result));
    return (result as { order: Order }).order;
  };

  before(async () => {
    ({ db, dispose } = await backend.fresh());
    await migrate(db);
    for (const product of await listProducts(db)) prices.set(product.sku, toMinor(product.price.amount));
  });
  after(async () => {
    await dispose?.();
  });

  describe('catalog', () => {
    it('holds the 50 seeded products, in SKU order, with prices from 1.00 to 200.00 EUR and stock 10,000', async () => {
      const products = await listProducts(db);
      assert.equal(products.length, 50);
      assert.deepEqual(products.map((p) => p.sku), Array.from({ length: 50 }, (_, i) => `SKU-${String(i + 1).padStart(4, '0')}`));
      for (const p of products) {
        assert.ok(p.name.length > 2 && !/^SKU/.test(p.name), p.name);
        assert.equal(p.price.currency, 'EUR');
        const minor = toMinor(p.price.amount);
        assert.ok(minor >= 100 && minor <= 20000, `${p.sku} ${p.price.amount}`);
        assert.equal(p.stock, 10_000);
      }
      assert.deepEqual(products[0], { sku: 'SKU-0001', name: 'Espresso Cup', price: { amount: '92.56', currency: 'EUR' }, stock: 10_000 });
    });
  });

  describe('placeOrder', () => {
    it('creates the order in one round trip: totals, lines, stock and exactly one outbox row', async () => {
      const [before1, before2] = [await stock('SKU-0001'), await stock('SKU-0002')];
      const outboxBefore = await count('outbox');
      const priced = order([{ sku: 'SKU-0001', quantity: 2 }, { sku: 'SKU-0002', quantity: 1 }, { sku: 'SKU-0001', quantity: 1 }]);
      const input = request(priced);
      const probe = counting(db);
      const result = await placeOrder(probe, input);
      assert.deepEqual(probe.texts, ['WITH input'], 'one statement, no BEGIN/COMMIT');
      assert.equal(result.outcome, 'created');
      const placed = (result as { order: Order }).order;

      // 2 × 92.56 + 171.75 + 92.56 = 449.43
      assert.deepEqual(placed.total, { amount: '449.43', currency: 'EUR' });
      assert.equal(placed.id, priced.id);
      assert.equal(placed.status, 'placed');
      assert.deepEqual(placed.items, [
        { sku: 'SKU-0001', name: 'Espresso Cup', quantity: 2, unitPrice: { amount: '92.56', currency: 'EUR' }, lineTotal: { amount: '185.12', currency: 'EUR' } },
        { sku: 'SKU-0002', name: 'Walnut Cutting Board', quantity: 1, unitPrice: { amount: '171.75', currency: 'EUR' }, lineTotal: { amount: '171.75', currency: 'EUR' } },
        { sku: 'SKU-0001', name: 'Espresso Cup', quantity: 1, unitPrice: { amount: '92.56', currency: 'EUR' }, lineTotal: { amount: '92.56', currency: 'EUR' } },
      ]);
      assert.match(placed.createdAt, isoPattern);
      assert.match(placed.updatedAt, isoPattern);
      assert.ok(Math.abs(Date.parse(placed.createdAt) - Date.now()) < 60_000);

      assert.deepEqual(await getOrder(db, priced.id), placed, 'what was returned is what was stored');
      assert.equal(await stock('SKU-0001'), (before1 ?? 0) - 3);
      assert.equal(await stock('SKU-0002'), (before2 ?? 0) - 1);
      assert.equal(await count('outbox'), (outboxBefore ?? 0) + 1);
      const outbox = await db.query<{ type: string; subject: string; payload: AnyCloudEvent; published_at: unknown }>(
        'SELECT type, subject, payload, published_at FROM outbox WHERE event_id = $1', [input.event.id]);
      assert.equal(outbox.rows.length, 1);
      assert.deepEqual(outbox.rows[0], { type: input.event.type, subject: 'orders.placed', payload: input.event.payload, published_at: null });
    });

    it('with the outbox bench switch off (no event), places the order the same way and writes no outbox row', async () => {
      const outboxBefore = await count('outbox');
      const priced = order([{ sku: 'SKU-0003', quantity: 1 }]);
      const probe = counting(db);
      const result = await placeOrder(probe, { ...request(priced), event: undefined });
      assert.deepEqual(probe.texts, ['WITH input'], 'still one statement');
      assert.equal(result.outcome, 'created');
      assert.equal((await getOrder(db, priced.id))?.status, 'placed');
      assert.equal(await count('outbox'), outboxBefore);
    });

    it('refuses an order whose total is not the sum of its lines, writing nothing', async () => {
      const priced = { ...order([{ sku: 'SKU-0007', quantity: 1 }]), total: eur(1) };
      const before7 = await stock('SKU-0007');
      await assert.rejects(placeOrder(db, request(priced)), RangeError);
      assert.equal(await stock('SKU-0007'), before7);
      assert.equal(await getOrder(db, priced.id), null);
    });

    it('the same key and body replays the stored order in one round trip and writes nothing again', async () => {
      const first = request(order([{ sku: 'SKU-0003', quantity: 4 }]));
      const stored = await created(first);
      const stockAfterFirst = await stock('SKU-0003');
      const outboxAfterFirst = await count('outbox');
      // A retry carries a fresh order id and event id: the orders service prices again before calling.
      const retry = request(order([{ sku: 'SKU-0003', quantity: 4 }]), first.key, first.requestHash);
      const probe = counting(db);
      const result = await placeOrder(probe, retry);
      assert.deepEqual(result, { outcome: 'replayed', order: stored });
      assert.equal(probe.texts.length, 1);
      assert.equal(await stock('SKU-0003'), stockAfterFirst);
      assert.equal(await count('outbox'), outboxAfterFirst);
      assert.equal(await getOrder(db, retry.order.id), null);
      assert.equal(await count('idempotency_keys WHERE key = $1', [first.key]), 1);
    });

    it('the same key with another body is key-reused and writes nothing', async () => {
      const first = request(order([{ sku: 'SKU-0003', quantity: 1 }]));
      await created(first);
      const stockBefore = await stock('SKU-0003');
      const other = request(order([{ sku: 'SKU-0003', quantity: 2 }]), first.key, 'another-hash');
      const probe = counting(db);
      assert.deepEqual(await placeOrder(probe, other), { outcome: 'key-reused' });
      assert.equal(probe.texts.length, 1);
      assert.equal(await stock('SKU-0003'), stockBefore);
      assert.equal(await getOrder(db, other.order.id), null);
    });

    it('out of stock writes nothing, leaves stock as it was and names the short SKUs (two round trips)', async () => {
      await setStock('SKU-0004', 1);
      await setStock('SKU-0008', 0);
      const stock5 = await stock('SKU-0005');
      const outboxBefore = await count('outbox');
      const input = request(order([{ sku: 'SKU-0005', quantity: 1 }, { sku: 'SKU-0004', quantity: 2 }, { sku: 'SKU-0008', quantity: 1 }]));
      const probe = counting(db);
      assert.deepEqual(await placeOrder(probe, input), { outcome: 'out-of-stock', skus: ['SKU-0004', 'SKU-0008'] });
      assert.equal(probe.texts.length, 2);
      assert.equal(await stock('SKU-0004'), 1);
      assert.equal(await stock('SKU-0005'), stock5);
      assert.equal(await stock('SKU-0008'), 0);
      assert.equal(await getOrder(db, input.order.id), null);
      assert.equal(await count('idempotency_keys WHERE key = $1', [input.key]), 0, 'the key stays free for a later attempt');
      assert.equal(await count('outbox'), outboxBefore);

      // Demand is summed per SKU: two lines of one product that fit alone but not together.
      await setStock('SKU-0004', 3);
      const split = request(order([{ sku: 'SKU-0004', quantity: 2 }, { sku: 'SKU-0004', quantity: 2 }]));
      assert.deepEqual(await placeOrder(db, split), { outcome: 'out-of-stock', skus: ['SKU-0004'] });
      assert.equal(await stock('SKU-0004'), 3);
      // And the key of a refused order can be used once stock allows.
      await setStock('SKU-0004', 4);
      await created(split);
      assert.equal(await stock('SKU-0004'), 0);
    });

    it('an unknown SKU is refused in one round trip with nothing written', async () => {
      const stock6 = await stock('SKU-0006');
      const input = request(order([{ sku: 'SKU-0006', quantity: 1 }, { sku: 'SKU-9999', quantity: 1 }, { sku: 'SKU-9998', quantity: 1 }]));
      const probe = counting(db);
      assert.deepEqual(await placeOrder(probe, input), { outcome: 'unknown-sku', skus: ['SKU-9998', 'SKU-9999'] });
      assert.equal(probe.texts.length, 1);
      assert.equal(await stock('SKU-0006'), stock6);
      assert.equal(await getOrder(db, input.order.id), null);
      assert.equal(await count('idempotency_keys WHERE key = $1', [input.key]), 0);
      assert.equal(await count('outbox WHERE event_id = $1', [input.event.id]), 0);
    });

    it('30 concurrent orders for a product with stock 10: exactly 10 are created and stock ends at 0', async () => {
      await setStock('SKU-0010', 10);
      const customerId = `race-${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 30 }, () => placeOrder(db, request(order([{ sku: 'SKU-0010', quantity: 1 }], customerId)))));
      const outcomes = results.map((r) => r.outcome);
      assert.equal(outcomes.filter((o) => o === 'created').length, 10, outcomes.join(','));
      assert.equal(outcomes.filter((o) => o === 'out-of-stock').length, 20, outcomes.join(','));
      for (const r of results) if (r.outcome === 'out-of-stock') assert.deepEqual(r.skus, ['SKU-0010']);
      assert.equal(await stock('SKU-0010'), 0);
      assert.equal(await count('orders WHERE customer_id = $1', [customerId]), 10);
      assert.equal(await count('outbox WHERE payload -> \'data\' ->> \'customerId\' = $1', [customerId]), 10);
    });

    it('10 concurrent requests with one key create one order; the others replay it', async () => {
      const stock11 = await stock('SKU-0011');
      const key = `same-${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 10 }, () => placeOrder(db, request(order([{ sku: 'SKU-0011', quantity: 3 }]), key, 'one-body'))));
      const createdOnes = results.filter((r) => r.outcome === 'created');
      assert.equal(createdOnes.length, 1);
      assert.equal(results.filter((r) => r.outcome === 'replayed').length, 9);
      const id = (createdOnes[0] as { order: Order }).order.id;
      for (const r of results) assert.equal((r as { order: Order }).order.id, id);
      assert.equal(await stock('SKU-0011'), (stock11 ?? 0) - 3);
      assert.equal(await count('orders o JOIN order_lines l ON l.order_id = o.id WHERE l.sku = $1', ['SKU-0011']), 1);
      assert.equal(await count('idempotency_keys WHERE key = $1', [key]), 1);
    });

    it('orders taking the same products in opposite order do not deadlock', async () => {
      const [s12, s13] = [await stock('SKU-0012'), await stock('SKU-0013')];
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        placeOrder(db, request(order(i % 2 === 0
          ? [{ sku: 'SKU-0012', quantity: 1 }, { sku: 'SKU-0013', quantity: 1 }]
          : [{ sku: 'SKU-0013', quantity: 1 }, { sku: 'SKU-0012', quantity: 1 }])))));
      assert.deepEqual(new Set(results.map((r) => r.outcome)), new Set(['created']));
      assert.equal(await stock('SKU-0012'), (s12 ?? 0) - 40);
      assert.equal(await stock('SKU-0013'), (s13 ?? 0) - 40);
    });

    if (backend.name === 'PostgreSQL') {
      it('locks products in SKU order whatever the order of the lines', async () => {
        // Rewriting SKU-0016 moves its row behind SKU-0017 in the table, so a plain scan would meet 0017 first.
        await db.query(`UPDATE products SET stock = stock WHERE sku = 'SKU-0016'`);
        let release!: () => void;
        const held = new Promise<void>((resolve) => { release = resolve; });
        let locked = false;
        const blocker = db.transaction(async (tx) => {
          await tx.query(`SELECT 1 FROM products WHERE sku = 'SKU-0017' FOR UPDATE`);
          locked = true;
          await held;
        });
        while (!locked) await new Promise((resolve) => setTimeout(resolve, 5));
        const placing = placeOrder(db, request(order([{ sku: 'SKU-0017', quantity: 1 }, { sku: 'SKU-0016', quantity: 1 }])));
        try {
          await waitForLockWait('the order never waited on SKU-0017');
          // Waiting for SKU-0017, the order must already hold SKU-0016, the smaller SKU.
          await assert.rejects(
            db.transaction((tx) => tx.query(`SELECT 1 FROM products WHERE sku = 'SKU-0016' FOR UPDATE NOWAIT`)),
            (error: { code?: string }) => error.code === '55P03',
          );
        } finally {
          release();
          await blocker;
        }
        assert.equal((await placing).outcome, 'created');
      });

      it('a request racing an uncommitted one with the same key waits for it and replays it (two round trips)', async () => {
        const first = request(order([{ sku: 'SKU-0014', quantity: 1 }]));
        let release!: () => void;
        const held = new Promise<void>((resolve) => { release = resolve; });
        let firstResult: unknown;
        const transaction = db.transaction(async (tx) => {
          firstResult = await placeOrder(tx, first);
          await held;
        });
        while (firstResult === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
        const probe = counting(db);
        const second = placeOrder(probe, request(order([{ sku: 'SKU-0014', quantity: 1 }]), first.key, first.requestHash));
        try {
          // Commit only once the second statement is blocked on the key.
          await waitForLockWait('the second request never waited on the key');
        } finally {
          release();
          await transaction;
        }
        const result = await second;
        assert.equal(result.outcome, 'replayed');
        assert.equal((result as { order: Order }).order.id, first.order.id);
        assert.equal(probe.texts.length, 2);
      });
    }
  });

  describe('reading orders', () => {
    it('getOrder answers null for an unknown or malformed id', async () => {
      assert.equal(await getOrder(db, randomUUID()), null);
      assert.equal(await getOrder(db, 'not-a-uuid'), null);
    });

    it('pages through a customer\'s orders newest first, without duplicates or gaps, ties broken by id', async () => {
      const customerId = `pager-${randomUUID()}`;
      const ids = new Set<string>();
      for (let i = 0; i < 7; i++) ids.add((await created(request(order([{ sku: 'SKU-0020', quantity: 1 }], customerId)))).id);
      // Orders placed in one transaction share created_at: only the id tells them apart.
      await db.transaction(async (tx) => {
        for (let i = 0; i < 6; i++) {
          const result = await placeOrder(tx, request(order([{ sku: 'SKU-0020', quantity: 1 }], customerId)));
          assert.equal(result.outcome, 'created');
          ids.add((result as { order: Order }).order.id);
        }
      });
      await created(request(order([{ sku: 'SKU-0020', quantity: 1 }], 'someone-else')));

      const seen: Order[] = [];
      const pageSizes: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await listOrders(db, { customerId, limit: 4, ...(cursor ? { cursor } : {}) });
        pageSizes.push(page.items.length);
        seen.push(...page.items);
        cursor = page.nextCursor ?? undefined;
        if (cursor) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
      } while (cursor);
      assert.deepEqual(pageSizes, [4, 4, 4, 1]);
      assert.equal(seen.length, 13);
      assert.deepEqual(new Set(seen.map((o) => o.id)), ids);
      const expected = await db.query<{ id: string }>('SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC', [customerId]);
      assert.deepEqual(seen.map((o) => o.id), expected.rows.map((r) => r.id));
      assert.deepEqual(seen[0], await getOrder(db, seen[0]!.id));

      const exact = await listOrders(db, { customerId, limit: 13 });
      assert.equal(exact.items.length, 13);
      assert.equal(exact.nextCursor, null, 'no cursor when nothing follows');
      assert.deepEqual(await listOrders(db, { customerId: 'nobody', limit: 5 }), { items: [], nextCursor: null });
    });

    it('a malformed or forged cursor is a BadCursorError', async () => {
      const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const bad = [
        'not a cursor', '!!!!', 'abc', forged({ a: 1 }), forged(['2024-01-01T00:00:00Z']),
        forged(['2024-02-30T10:00:00+00:00', randomUUID()]), forged(['yesterday', randomUUID()]), forged(['2024-01-01T00:00:00Z', 'not-a-uuid']),
        forged(['2024-01-01T00:00:00+99:00', randomUUID()]), forged(['2024-01-01T24:00:00Z', randomUUID()]),
        `${forged(['2024-01-01T00:00:00Z', randomUUID()])}=`,
      ];
      for (const cursor of bad) await assert.rejects(listOrders(db, { customerId: 'customer-1', cursor, limit: 5 }), BadCursorError, cursor);
      const fine = forged(['2024-01-01T00:00:00.123456+00:00', randomUUID()]);
      assert.deepEqual(await listOrders(db, { customerId: 'customer-1', cursor: fine, limit: 5 }), { items: [], nextCursor: null });
    });
  });

  describe('transitionOrder', () => {
    it('applies once per cause, refuses what the state machine forbids, and restocks only once', async () => {
      const placed = await created(request(order([{ sku: 'SKU-0030', quantity: 3 }, { sku: 'SKU-0031', quantity: 1 }, { sku: 'SKU-0030', quantity: 2 }])));
      const [s30, s31] = [await stock('SKU-0030'), await stock('SKU-0031')];
      const cancel = { id: placed.id, from: ['placed' as const], to: 'cancelled' as const, restock: true };

      const applied = await transitionOrder(db, { ...cancel, causeId: 'cancel-request-1' });
      assert.equal(applied.outcome, 'applied');
      const cancelled = (applied as { order: Order }).order;
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.createdAt, placed.createdAt);
      assert.deepEqual(cancelled.items, placed.items);
      assert.deepEqual(cancelled, await getOrder(db, placed.id), 'the order it answers with is the order as stored');
      assert.equal(await stock('SKU-0030'), (s30 ?? 0) + 5);
      assert.equal(await stock('SKU-0031'), (s31 ?? 0) + 1);

      const again = await transitionOrder(db, { ...cancel, causeId: 'cancel-request-1' });
      assert.deepEqual(again, { outcome: 'already-applied', order: cancelled });
      const other = await transitionOrder(db, { ...cancel, causeId: 'cancel-request-2' });
      assert.deepEqual(other, { outcome: 'conflict', order: cancelled });
      assert.equal(await stock('SKU-0030'), (s30 ?? 0) + 5, 'restocked once only');
      assert.equal(await count('order_causes WHERE order_id = $1', [placed.id]), 1);

      assert.deepEqual(await transitionOrder(db, { ...cancel, id: randomUUID(), causeId: 'x' }), { outcome: 'not-found' });
      assert.deepEqual(await transitionOrder(db, { ...cancel, id: 'nope', causeId: 'x' }), { outcome: 'not-found' });
    });

    it('a fulfilment without restock leaves stock alone; concurrent repeats of one cause apply it once', async () => {
      const placed = await created(request(order([{ sku: 'SKU-0032', quantity: 2 }])));
      const s32 = await stock('SKU-0032');
      const fulfil = { id: placed.id, from: ['placed' as const], to: 'fulfilled' as const, restock: false, causeId: 'callback-1' };
      const results = await Promise.all(Array.from({ length: 5 }, () => transitionOrder(db, fulfil)));
      assert.deepEqual(results.map((r) => r.outcome).sort(), ['already-applied', 'already-applied', 'already-applied', 'already-applied', 'applied']);
      assert.equal((await getOrder(db, placed.id))?.status, 'fulfilled');
      assert.equal(await stock('SKU-0032'), s32);
      const later = await getOrder(db, placed.id);
      assert.ok(later && Date.parse(later.updatedAt) >= Date.parse(placed.updatedAt));
      assert.deepEqual(later, (results.find((r) => r.outcome === 'applied') as { order: Order }).order);
    });

    it('a cancellation racing a fulfilment: one of them applies, and stock comes back only if the cancellation won', async () => {
      for (let round = 0; round < 4; round++) {
        const placed = await created(request(order([{ sku: 'SKU-0033', quantity: 2 }])));
        const before = await stock('SKU-0033');
        const cancel = () => transitionOrder(db, { id: placed.id, from: ['placed'], to: 'cancelled', restock: true, causeId: `cancel-${round}` });
        const fulfil = () => transitionOrder(db, { id: placed.id, from: ['placed'], to: 'fulfilled', restock: false, causeId: `callback-${round}` });
        // Either one sent first, in turn.
        const [cancelled, fulfilled] = round % 2 === 0 ? await Promise.all([cancel(), fulfil()]) : (await Promise.all([fulfil(), cancel()])).reverse();
        assert.deepEqual([cancelled?.outcome, fulfilled?.outcome].sort(), ['applied', 'conflict']);
        const final = await getOrder(db, placed.id);
        assert.equal(final?.status, cancelled?.outcome === 'applied' ? 'cancelled' : 'fulfilled');
        assert.equal(await stock('SKU-0033'), cancelled?.outcome === 'applied' ? (before ?? 0) + 2 : before);
        assert.equal(await count('order_causes WHERE order_id = $1', [placed.id]), 1, 'only the cause that applied is recorded');
      }
    });
  });

  describe('event feed', () => {
    it('reads after the consumer\'s cursor in position order; acks only move forward and never past the newest', async () => {
      const consumer = `feed-${randomUUID().slice(0, 8)}`;
      const start = await latestPosition(db);
      await ackEvents(db, { consumer, position: start });
      const inputs = [];
      for (let i = 0; i < 3; i++) {
        const input = request(order([{ sku: 'SKU-0040', quantity: 1 }]));
        await created(input);
        inputs.push(input);
      }
      const latest = await latestPosition(db);
      assert.ok(latest >= start + 3);

      const all = await readEvents(db, { consumer, limit: 100 });
      assert.deepEqual(all.map((e) => e.event.id), inputs.map((i) => i.event.id));
      assert.deepEqual(all[0]?.event, inputs[0]?.event.payload);
      const positions = all.map((e) => e.position);
      assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
      assert.equal(positions[2], latest);

      const firstTwo = await readEvents(db, { consumer, limit: 2 });
      assert.equal(firstTwo.length, 2);
      assert.deepEqual(await ackEvents(db, { consumer, position: firstTwo[1]!.position }), { position: firstTwo[1]!.position });
      assert.deepEqual((await readEvents(db, { consumer, limit: 100 })).map((e) => e.event.id), [inputs[2]!.event.id]);

      assert.deepEqual(await ackEvents(db, { consumer, position: firstTwo[0]!.position }), { position: firstTwo[1]!.position }, 'never back');
      assert.deepEqual(await ackEvents(db, { consumer, position: latest + 1_000 }), { position: latest }, 'never past the newest');
      assert.deepEqual(await readEvents(db, { consumer, limit: 100 }), []);

      const newcomer = await readEvents(db, { consumer: `new-${consumer}`, limit: 1 });
      assert.equal(newcomer.length, 1, 'a consumer without a cursor starts at the beginning');
      assert.equal(newcomer[0]?.position, (await db.query<{ p: number }>('SELECT min(position)::int AS p FROM outbox')).rows[0]?.p);
    });

    it('says of each event whether this consumer has recorded it processed, so that a redelivery needs no lookup', async () => {
      const consumer = `flag-${randomUUID().slice(0, 8)}`;
      await ackEvents(db, { consumer, position: await latestPosition(db) });
      const inputs = [request(order([{ sku: 'SKU-0041', quantity: 1 }])), request(order([{ sku: 'SKU-0041', quantity: 1 }]))];
      for (const input of inputs) await created(input);
      assert.deepEqual((await readEvents(db, { consumer, limit: 10 })).map((e) => e.processed), [false, false]);
      await recordProcessed(db, { consumer, eventId: inputs[1]!.event.id });
      await recordProcessed(db, { consumer: `other-${consumer}`, eventId: inputs[0]!.event.id });
      const read = await readEvents(db, { consumer, limit: 10 });
      assert.deepEqual(read.map((e) => [e.event.id, e.processed]), [[inputs[0]!.event.id, false], [inputs[1]!.event.id, true]], 'per event and per consumer');
    });

    it('says of each event what its order\'s status is when read, so that the consumer need not read the order', async () => {
      const consumer = `status-${randomUUID().slice(0, 8)}`;
      await ackEvents(db, { consumer, position: await latestPosition(db) });
      const inputs = [request(order([{ sku: 'SKU-0041', quantity: 1 }])), request(order([{ sku: 'SKU-0041', quantity: 1 }]))];
      const placed = [];
      for (const input of inputs) placed.push(await created(input));
      assert.deepEqual((await readEvents(db, { consumer, limit: 10 })).map((e) => e.orderStatus), ['placed', 'placed']);
      await transitionOrder(db, { id: placed[0]!.id, from: ['placed'], to: 'cancelled', restock: true, causeId: `cancel-${consumer}` });
      assert.deepEqual((await readEvents(db, { consumer, limit: 10 })).map((e) => e.orderStatus), ['cancelled', 'placed']);
    });

    it('an event naming no order the store holds, or no UUID at all, reads with a null status and does not fail the read', async () => {
      const consumer = `orphan-${randomUUID().slice(0, 8)}`;
      await ackEvents(db, { consumer, position: await latestPosition(db) });
      for (const orderId of [randomUUID(), 'not-a-uuid']) {
        const event = { specversion: '1.0', id: randomUUID(), source: '/test', type: 'dev.msa-poc.test.v1', data: { orderId } };
        await db.query('INSERT INTO outbox (event_id, type, payload) VALUES ($1, $2, $3::jsonb)', [event.id, event.type, JSON.stringify(event)]);
      }
      assert.deepEqual((await readEvents(db, { consumer, limit: 10 })).map((e) => e.orderStatus), [null, null]);
    });

    it('an ack records the events it lists as processed together with moving the cursor, and repeats change nothing', async () => {
      const consumer = `ackrec-${randomUUID().slice(0, 8)}`;
      await ackEvents(db, { consumer, position: await latestPosition(db) });
      const inputs = [request(order([{ sku: 'SKU-0041', quantity: 1 }])), request(order([{ sku: 'SKU-0041', quantity: 1 }]))];
      for (const input of inputs) await created(input);
      const read = await readEvents(db, { consumer, limit: 10 });
      const last = read.at(-1)!.position;
      assert.deepEqual(await ackEvents(db, { consumer, position: last, processed: [inputs[0]!.event.id] }), { position: last });
      assert.equal(await isProcessed(db, { consumer, eventId: inputs[0]!.event.id }), true);
      assert.equal(await isProcessed(db, { consumer, eventId: inputs[1]!.event.id }), false, 'only what the ack lists');
      assert.equal(await isProcessed(db, { consumer: `other-${consumer}`, eventId: inputs[0]!.event.id }), false, 'for this consumer only');
      assert.deepEqual(await ackEvents(db, { consumer, position: last, processed: [inputs[0]!.event.id] }), { position: last }, 'a repeated ack is harmless');
      await assert.rejects(ackEvents(db, { consumer, position: last, processed: [inputs[1]!.event.id, 'not-a-uuid'] }));
      assert.equal(await isProcessed(db, { consumer, eventId: inputs[1]!.event.id }), false, 'an ack that fails records none of its events');
    });
  });

  describe('outbox relay', () => {
    it('claims unpublished events oldest first, marks them published, and the lag follows', async () => {
      const before = await outboxLag(db);
      assert.ok(before.count > 0);
      assert.ok(before.oldestAgeSeconds > 0 && before.oldestAgeSeconds < 600, String(before.oldestAgeSeconds));
      const claimed = await db.transaction(async (tx) => {
        const rows = await claimUnpublished(tx, 3);
        assert.equal(await markPublished(tx, rows.map((r) => r.position)), rows.length);
        return rows;
      });
      assert.equal(claimed.length, 3);
      const oldest = await db.query<{ position: number }>('SELECT position::int AS position FROM outbox ORDER BY position LIMIT 3');
      assert.deepEqual(claimed.map((r) => r.position), oldest.rows.map((r) => r.position));
      for (const row of claimed) {
        assert.equal(row.event.id, row.eventId);
        assert.equal(row.type, 'dev.msa-poc.order.placed.v1');
      }
      assert.equal((await outboxLag(db)).count, before.count - 3);
      await db.transaction(async (tx) => {
        const next = await claimUnpublished(tx, 2);
        assert.ok(next.every((r) => r.position > claimed[2]!.position), 'published rows are not claimed again');
        assert.equal(await markPublished(tx, claimed.map((r) => r.position)), 0, 'marking twice changes nothing');
      });
    });

    if (backend.name === 'PostgreSQL') {
      it('two relays claiming at once take different events', async () => {
        let release!: () => void;
        const held = new Promise<void>((resolve) => { release = resolve; });
        let first: number[] | undefined;
        const one = db.transaction(async (tx) => {
          first = (await claimUnpublished(tx, 2)).map((r) => r.position);
          await held;
        });
        while (!first) await new Promise((resolve) => setTimeout(resolve, 5));
        let second: number[];
        try {
          second = await db.transaction(async (tx) => (await claimUnpublished(tx, 2)).map((r) => r.position));
        } finally {
          release();
          await one;
        }
        assert.equal(first.length, 2);
        assert.equal(second.length, 2);
        assert.deepEqual(first.filter((p) => second.includes(p)), []);
      });
    }
  });

  describe('consumer bookkeeping', () => {
    it('records a processed event once and answers whether it was', async () => {
      const eventId = randomUUID();
      assert.equal(await isProcessed(db, { consumer: 'integration', eventId }), false);
      assert.deepEqual(await recordProcessed(db, { consumer: 'integration', eventId }), { firstTime: true });
      assert.deepEqual(await recordProcessed(db, { consumer: 'integration', eventId }), { firstTime: false });
      assert.equal(await isProcessed(db, { consumer: 'integration', eventId }), true);
      assert.equal(await isProcessed(db, { consumer: 'another', eventId }), false, 'per consumer');
    });

    it('keeps one dead letter per consumer and event, newest first', async () => {
      const event = cloudEvent({ orderId: randomUUID() });
      const first = await addDeadLetter(db, { consumer: 'integration', event, error: 'partner answered 503', attempts: 5 });
      assert.equal(first.created, true);
      assert.match(first.deadLetter.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual({ ...first.deadLetter, id: '', createdAt: '' }, { id: '', consumer: 'integration', event, error: 'partner answered 503', attempts: 5, createdAt: '' });
      assert.match(first.deadLetter.createdAt, isoPattern);

      const repeat = await addDeadLetter(db, { consumer: 'integration', event, error: 'another error', attempts: 6 });
      assert.deepEqual(repeat, { created: false, deadLetter: first.deadLetter });
      const elsewhere = await addDeadLetter(db, { consumer: 'auditor', event, error: 'x'.repeat(5000), attempts: 1 });
      assert.equal(elsewhere.created, true);
      assert.equal(elsewhere.deadLetter.error.length, 2000);

      const listed = await listDeadLetters(db, 10);
      assert.equal(listed.length, 2);
      assert.deepEqual(listed[0], elsewhere.deadLetter);
      assert.deepEqual(listed[1], first.deadLetter);
      assert.equal((await listDeadLetters(db, 1)).length, 1);
    });
  });

  describe('replayDeadLetter', () => {
    const replayRequest = (id: string, overrides: Partial<ReplayRequest> = {}): ReplayRequest => ({
      id,
      by: 'console',
      republish: (original) => ({ event: { ...original, id: randomUUID() }, subject: 'orders.placed' }),
      audit: { actor: 'spiffe://msa-poc.local/console', requestId: 'request-1', traceId: 'a'.repeat(32) },
      ...overrides,
    });
    const deadLetter = async () => (await addDeadLetter(db, { consumer: 'integration', event: cloudEvent({ orderId: randomUUID() }), error: 'partner answered 503', attempts: 5 })).deadLetter;
    const outboxRow = async (eventId: string) => (await db.query<{ type: string; subject: string; payload: AnyCloudEvent }>('SELECT type, subject, payload FROM outbox WHERE event_id = $1', [eventId])).rows[0];
    const latestAudit = async () => (await listAudit(db, { limit: 1 }))[0];

    it('publishes the event again through the outbox, marks the dead letter and audits who asked, in one go', async () => {
      const letter = await deadLetter();
      const outboxBefore = await count('outbox');
      const result = await replayDeadLetter(db, replayRequest(letter.id));
      assert.equal(result.outcome, 'replayed');
      const { replay } = result as { replay: { replayEventId: string; replayedAt: string } };
      assert.deepEqual(result, { outcome: 'replayed', replay: { deadLetterId: letter.id, eventId: letter.event.id, replayEventId: replay.replayEventId, replayedAt: replay.replayedAt, replayedBy: 'console' } });
      assert.notEqual(replay.replayEventId, letter.event.id);
      assert.match(replay.replayedAt, isoPattern);

      assert.equal(await count('outbox'), (outboxBefore ?? 0) + 1);
      assert.deepEqual(await outboxRow(replay.replayEventId), { type: letter.event.type, subject: 'orders.placed', payload: { ...letter.event, id: replay.replayEventId } });
      const audit = await latestAudit();
      assert.deepEqual({ ...audit, at: '', position: 0 }, {
        at: '', position: 0, actor: 'spiffe://msa-poc.local/console', action: 'dead-letter.replay', outcome: 'succeeded', target: `dead-letter:${letter.id}`,
        requestId: 'request-1', traceId: 'a'.repeat(32), detail: `event ${letter.event.id} (${letter.event.type}) published again as ${replay.replayEventId}`,
      });
      assert.deepEqual((await listDeadLetterReplays(db, 10))[0], replay);
    });

    it('refuses a second replay with the first one\'s record, publishes nothing and audits the refusal', async () => {
      const letter = await deadLetter();
      const first = await replayDeadLetter(db, replayRequest(letter.id));
      const outboxAfterFirst = await count('outbox');
      const second = await replayDeadLetter(db, replayRequest(letter.id, { by: 'someone-else' }));
      assert.deepEqual(second, { outcome: 'already-replayed', replay: (first as { replay: unknown }).replay });
      assert.equal(await count('outbox'), outboxAfterFirst);
      const audit = await latestAudit();
      assert.equal(audit?.outcome, 'refused');
      assert.match(audit?.detail ?? '', /already published again as [0-9a-f-]{36} at .* by console/);
    });

    it('lets exactly one of two concurrent replays of the same dead letter publish', async () => {
      const letter = await deadLetter();
      const outboxBefore = await count('outbox');
      const results = await Promise.all([replayDeadLetter(db, replayRequest(letter.id)), replayDeadLetter(db, replayRequest(letter.id))]);
      assert.deepEqual(results.map((r) => r.outcome).sort(), ['already-replayed', 'replayed']);
      assert.equal(await count('outbox'), (outboxBefore ?? 0) + 1);
    });

    it('keeps a dead letter whose event must not go out again untouched, and audits why', async () => {
      const letter = await deadLetter();
      const outboxBefore = await count('outbox');
      const result = await replayDeadLetter(db, replayRequest(letter.id, { republish: () => ({ refused: 'the event breaks its contract' }) }));
      assert.deepEqual(result, { outcome: 'refused', reason: 'the event breaks its contract' });
      assert.equal(await count('outbox'), outboxBefore);
      assert.equal((await listDeadLetterReplays(db, 100)).some((r) => r.deadLetterId === letter.id), false);
      const audit = await latestAudit();
      assert.deepEqual([audit?.outcome, audit?.detail], ['refused', `event ${letter.event.id}: the event breaks its contract`]);
      assert.equal((await replayDeadLetter(db, replayRequest(letter.id))).outcome, 'replayed', 'it can still be replayed once the cause is fixed');
    });

    it('answers not-found for an unknown or malformed id', async () => {
      assert.deepEqual(await replayDeadLetter(db, replayRequest(randomUUID())), { outcome: 'not-found' });
      assert.deepEqual(await replayDeadLetter(db, replayRequest('not-a-uuid')), { outcome: 'not-found' });
    });

    it('lists replays latest first', async () => {
      const [a, b] = [await deadLetter(), await deadLetter()];
      await replayDeadLetter(db, replayRequest(a.id));
      await replayDeadLetter(db, replayRequest(b.id));
      const listed = await listDeadLetterReplays(db, 2);
      assert.deepEqual(listed.map((r) => r.deadLetterId), [b.id, a.id]);
      assert.equal((await listDeadLetterReplays(db, 1)).length, 1);
    });
  });
}

for (const backend of backends) describe(`store repository on ${backend.name}`, () => suite(backend));

describe('embedded database durability', () => {
  it('keeps committed orders across close and reopen', async () => {
    const dataDir = await freshPgliteDir();
    try {
      let db = await openDatabase({ profile: 'embedded', dataDir });
      await migrate(db);
      const payload = cloudEvent({});
      const priced: PricedOrder = { id: randomUUID(), customerId: 'c', items: [{ sku: 'SKU-0001', quantity: 1, unitPrice: eur(9256) }], total: eur(9256), shippingAddress: address };
      const result = await placeOrder(db, { key: 'reopen-key-1', requestHash: 'h', order: priced, event: { id: payload.id, type: payload.type, subject: 's', payload } });
      assert.equal(result.outcome, 'created');
      await db.close();

      db = await openDatabase({ profile: 'embedded', dataDir });
      try {
        assert.deepEqual((await migrate(db)).applied, []);
        assert.deepEqual(await getOrder(db, priced.id), (result as { order: Order }).order);
        assert.equal((await listProducts(db)).find((p) => p.sku === 'SKU-0001')?.stock, 9_999);
      } finally {
        await db.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps what it committed when the process is killed', async () => {
    const dataDir = await freshPgliteDir();
    try {
      const orderId = randomUUID();
      const modules = { database: new URL('./database.js', import.meta.url).href, migrate: new URL('./migrate.js', import.meta.url).href, repository: new URL('./repository.js', import.meta.url).href };
      const payload = cloudEvent({});
      const priced: PricedOrder = { id: orderId, customerId: 'c', items: [{ sku: 'SKU-0002', quantity: 2, unitPrice: eur(17175) }], total: eur(34350), shippingAddress: address };
      // The child acknowledges the order on stdout, then waits to be killed without any shutdown.
      const script = `
        const { openDatabase } = await import(${JSON.stringify(modules.database)});
        const { migrate } = await import(${JSON.stringify(modules.migrate)});
        const { placeOrder } = await import(${JSON.stringify(modules.repository)});
        const db = await openDatabase({ profile: 'embedded', dataDir: process.argv[1] });
        await migrate(db);
        const result = await placeOrder(db, JSON.parse(process.argv[2]));
        process.stdout.write(result.outcome + '\\n');
        setInterval(() => {}, 1000);`;
      const input = { key: 'kill-key-1', requestHash: 'h', order: priced, event: { id: payload.id, type: payload.type, subject: 's', payload } };
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const acknowledged = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.on('exit', (code) => reject(new Error(`child exited with ${code} before acknowledging`)));
      });
      assert.equal(acknowledged, 'created');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;

      const db = await openDatabase({ profile: 'embedded', dataDir });
      try {
        const order = await getOrder(db, orderId);
        assert.equal(order?.total.amount, '343.50');
        assert.equal((await listProducts(db)).find((p) => p.sku === 'SKU-0002')?.stock, 9_998);
        assert.equal((await readEvents(db, { consumer: 'after-kill', limit: 10 })).length, 1);
      } finally {
        await db.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
