/** The embedded profile's feed subscription, against a stand-in store whose long poll waits for events that do not come. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyCloudEvent } from '@msa-poc/contracts';
import { loadConfig } from '@msa-poc/platform/config';
import { UpstreamError } from '@msa-poc/platform/errors';
import { createLogger } from '@msa-poc/platform/telemetry';
import { createTracing } from '@msa-poc/platform/tracing';
import type { FulfilmentDeps } from './fulfilment.js';
import { subscribeToFeed } from './subscription.js';

test('stopping abandons the long poll that is waiting: the service stops at once, not when the poll ends', async () => {
  const polls: AbortSignal[] = [];
  const store = {
    // As the store's feed: hold the request up to waitMs when there is nothing to deliver.
    readEvents: (request: { query: { waitMs: number } }, options: { signal?: AbortSignal }) => new Promise((resolve, reject) => {
      const signal = options.signal as AbortSignal;
      polls.push(signal);
      const timer = setTimeout(() => resolve({ status: 200, body: { events: [] } }), request.query.waitMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    }),
  };
  const deps = { store, orders: {}, partner: {}, log: createLogger('integration', 'silent') } as unknown as FulfilmentDeps;
  const subscription = subscribeToFeed(deps, { maxAttempts: 3, baseMs: 10, capMs: 100 }, 16, { tracer: createTracing({ service: 'integration', settings: loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing }).tracer });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(polls.length, 1, 'one long poll waiting');
  const started = Date.now();
  await subscription.stop();
  assert.ok(Date.now() - started < 1_000, `stopped after ${Date.now() - started} ms; the poll would have held it 5 s`);
  assert.equal(polls[0]?.aborted, true);
  assert.equal(polls.length, 1, 'no poll after the stop');
  assert.equal(subscription.stats().lastError, undefined, 'a stop is not an error of the feed');
});

/** A stand-in feed: events appended by the test, read after the acknowledged cursor, long-polled as the store does. */
function feedOf(options: { failReads?: number; failAcks?: number; processed?: boolean } = {}) {
  let failReads = options.failReads ?? 0;
  let failAcks = options.failAcks ?? 0;
  const events: { position: number; event: AnyCloudEvent; processed: boolean; orderStatus: 'placed' }[] = [];
  const recorded = new Set<string>();
  const ackedProcessed: string[][] = [];
  const reads: number[] = [];
  const acks: number[] = [];
  let cursor = 0;
  let wake: (() => void) | undefined;
  const store = {
    readEvents: async (request: { query: { limit: number; waitMs: number } }, options: { signal?: AbortSignal }) => {
      if (failReads-- > 0) throw new UpstreamError('unavailable', 'store', 'cannot reach store for readEvents', { retryable: true });
      const pending = () => events.filter((e) => e.position > cursor).slice(0, request.query.limit);
      if (pending().length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          const timer = setTimeout(resolve, request.query.waitMs);
          options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
        });
      }
      const batch = pending().map((e) => ({ ...e, processed: e.processed || recorded.has(e.event.id) }));
      reads.push(batch.length);
      return { status: 200, body: { events: batch } };
    },
    ackEvents: async (request: { body: { position: number; processed?: string[] } }) => {
      if (failAcks-- > 0) throw new UpstreamError('unavailable', 'store', 'cannot reach store for ackEvents', { retryable: true });
      for (const id of request.body.processed ?? []) recorded.add(id);
      ackedProcessed.push(request.body.processed ?? []);
      cursor = request.body.position;
      acks.push(cursor);
      return { status: 200, body: { position: cursor } };
    },
  };
  const append = (count: number) => {
    for (let i = 0; i < count; i++) {
      const position = events.length + 1;
      // By default already processed by this consumer: fulfilment completes without calling anyone.
      events.push({ position, event: { ...placedEvent, id: `01890000-0000-7000-8000-${String(position).padStart(12, '0')}` }, processed: options.processed ?? true, orderStatus: 'placed' });
    }
    wake?.();
  };
  return { store, append, reads, acks, ackedProcessed, position: () => cursor };
}

const placedEvent: AnyCloudEvent = {
  specversion: '1.0', id: '01890000-0000-7000-8000-0000000000ee', source: '/store', type: 'dev.msa-poc.order.placed.v1',
  time: '2026-01-01T00:00:00.000Z', datacontenttype: 'application/json',
  data: { orderId: '01890000-0000-7000-8000-0000000000aa', customerId: 'c1', items: [{ sku: 'SKU-0001', quantity: 1 }], total: { amount: '1.00', currency: 'EUR' }, shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1000', country: 'BE' } },
};

/** A partner that accepts every order, counting the requests per order. */
function partnerStandIn() {
  const requests = new Map<string, number>();
  const partner = {
    submitFulfilment: async (request: { body: { orderId: string } }) => {
      requests.set(request.body.orderId, (requests.get(request.body.orderId) ?? 0) + 1);
      return { status: 202, body: { fulfilmentId: 'ful_1', orderId: request.body.orderId, status: 'accepted' } };
    },
  };
  return { partner, requests };
}

const subscribe = (store: unknown, lingerMs: number, partner: unknown = {}) =>
  subscribeToFeed({ store, orders: {}, partner, log: createLogger('integration', 'silent') } as unknown as FulfilmentDeps, { maxAttempts: 3, baseMs: 10, capMs: 100 }, 16,
    { tracer: createTracing({ service: 'integration', settings: loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing }).tracer }, lingerMs);

const until = async (condition: () => boolean, what: string) => {
  const deadline = Date.now() + 3_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

test('after a small batch the feed is left to fill: events that arrive meanwhile come in one read and one ack', async () => {
  const feed = feedOf();
  const subscription = subscribe(feed.store, 200);
  try {
    feed.append(1);
    await until(() => feed.acks.length === 1, 'the first ack');
    // Three orders placed while the subscription lingers after the first batch.
    feed.append(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    feed.append(2);
    await until(() => feed.position() === 4, 'every event acknowledged');
    assert.deepEqual(feed.reads.filter((n) => n > 0), [1, 3], 'the three later events in one read');
    assert.deepEqual(feed.acks, [1, 4]);
    assert.equal(subscription.stats().processed, 4);
  } finally {
    await subscription.stop();
  }
});

test('without a pause every event the long poll finds is read and acknowledged on its own', async () => {
  const feed = feedOf();
  const subscription = subscribe(feed.store, 0);
  try {
    for (let i = 0; i < 3; i++) {
      feed.append(1);
      await until(() => feed.acks.length === i + 1, `ack ${i + 1}`);
    }
    assert.deepEqual(feed.acks, [1, 2, 3]);
  } finally {
    await subscription.stop();
  }
});

test('a stop during the pause ends the subscription at once, and a full batch is followed by a read without a pause', async () => {
  const feed = feedOf();
  const subscription = subscribe(feed.store, 10_000);
  feed.append(16 + 2);
  await until(() => feed.position() === 18, 'both batches acknowledged');
  assert.deepEqual(feed.acks, [16, 18], 'the second batch was read right after the full first one');
  const started = Date.now();
  await subscription.stop();
  assert.ok(Date.now() - started < 1_000, `stopped after ${Date.now() - started} ms, inside a 10 s pause`);
});

test('a store that is down is retried: nothing is acknowledged before it is processed, and nothing is lost', async () => {
  const feed = feedOf({ failReads: 2 });
  const subscription = subscribe(feed.store, 50);
  try {
    feed.append(3);
    await until(() => feed.position() === 3, 'every event acknowledged once the store answers');
    assert.equal(subscription.stats().processed, 3);
    assert.match(subscription.stats().lastError ?? '', /cannot reach store/);
  } finally {
    await subscription.stop();
  }
});

test('a batch\'s processed events are recorded by its ack, not one call each; the order is not read again', async () => {
  const feed = feedOf({ processed: false });
  const { partner, requests } = partnerStandIn();
  const subscription = subscribe(feed.store, 0, partner);
  try {
    feed.append(3);
    await until(() => feed.position() === 3, 'the batch acknowledged');
    assert.deepEqual(feed.ackedProcessed, [[1, 2, 3].map((p) => `01890000-0000-7000-8000-${String(p).padStart(12, '0')}`)]);
    assert.deepEqual([...requests.values()], [3], 'three events of one order id, each sent once; no recordProcessed or getOrder call (the stand-in store has none)');
  } finally {
    await subscription.stop();
  }
});

test('an ack that fails records nothing: the batch is read again and sent again (the partner deduplicates), then recorded once', async () => {
  const feed = feedOf({ processed: false, failAcks: 1 });
  const { partner, requests } = partnerStandIn();
  const subscription = subscribe(feed.store, 0, partner);
  try {
    feed.append(1);
    await until(() => feed.position() === 1, 'the event acknowledged after the store came back');
    assert.equal(requests.get((placedEvent.data as { orderId: string }).orderId), 2, 'sent again after the failed ack');
    assert.equal(feed.ackedProcessed.length, 1);
    assert.match(subscription.stats().lastError ?? '', /cannot reach store for ackEvents/);
  } finally {
    await subscription.stop();
  }
});
