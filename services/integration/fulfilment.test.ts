/** What integration does with an order.placed event, against stand-ins for its three neighbours. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyCloudEvent } from '@msa-poc/contracts';
import { UpstreamError } from '@msa-poc/platform/errors';
import { createLogger } from '@msa-poc/platform/telemetry';
import { deadLetter, fulfil, fulfilPatiently, type FulfilmentDeps } from './fulfilment.js';

const orderId = '01890000-0000-7000-8000-0000000000aa';
const event: AnyCloudEvent = {
  specversion: '1.0', id: '01890000-0000-7000-8000-0000000000ee', source: '/store', type: 'dev.msa-poc.order.placed.v1',
  time: '2026-01-01T00:00:00.000Z', datacontenttype: 'application/json',
  data: { orderId, customerId: 'c1', items: [{ sku: 'SKU-0001', quantity: 1 }], total: { amount: '1.00', currency: 'EUR' }, shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1000', country: 'BE' } },
};
const problem = (status: number) => ({ type: 'https://msa-poc.local/problems/x', title: 'x', status });

function neighbours(options: { processed?: boolean; status?: string; partner?: number | Error; store?: Error; orderReadFailures?: number } = {}) {
  const calls: string[] = [];
  let orderReadFailures = options.orderReadFailures ?? 0;
  const store = {
    isProcessed: async () => {
      calls.push('isProcessed');
      if (options.store) throw options.store;
      return { status: 200, body: { processed: options.processed ?? false } };
    },
    getOrder: async () => {
      calls.push('getOrder');
      if (orderReadFailures-- > 0) throw new UpstreamError('unavailable', 'store', 'down', { retryable: true });
      return options.status === undefined ? { status: 404, body: problem(404) } : { status: 200, body: { id: orderId, status: options.status } };
    },
    recordProcessed: async () => {
      calls.push('recordProcessed');
      return { status: 200, body: { firstTime: true } };
    },
    addDeadLetter: async () => {
      calls.push('addDeadLetter');
      return { status: 201, body: {} };
    },
  };
  const partner = {
    submitFulfilment: async () => {
      calls.push('submitFulfilment');
      if (options.partner instanceof Error) throw options.partner;
      const status = options.partner ?? 202;
      return status < 300 ? { status, body: { fulfilmentId: 'f1', orderId, status: 'accepted' } } : { status, body: problem(status) };
    },
  };
  const orders = {
    failOrder: async () => {
      calls.push('failOrder');
      return { status: 200, body: {} };
    },
  };
  return { calls, deps: { store, partner, orders, log: createLogger('integration', 'silent') } as unknown as FulfilmentDeps };
}

test('a placed order goes to the partner once, and the event is recorded as processed', async () => {
  const { calls, deps } = neighbours({ status: 'placed' });
  assert.deepEqual(await fulfil(event, deps), { kind: 'done' });
  assert.deepEqual(calls, ['isProcessed', 'getOrder', 'submitFulfilment', 'recordProcessed']);
});

test('a redelivered event changes nothing: no partner call', async () => {
  const { calls, deps } = neighbours({ processed: true, status: 'placed' });
  assert.equal((await fulfil(event, deps)).kind, 'done');
  assert.deepEqual(calls, ['isProcessed']);
});

test('the feed\'s word on whether an event was processed replaces asking the store', async () => {
  const fresh = neighbours({ processed: true, status: 'placed' });
  assert.deepEqual(await fulfil(event, fresh.deps, { processed: false, orderStatus: null }), { kind: 'done' });
  assert.deepEqual(fresh.calls, ['getOrder', 'submitFulfilment', 'recordProcessed'], 'the feed said new (and knew no order): the store is asked for the order only');
  const redelivered = neighbours({ processed: false, status: 'placed' });
  assert.equal((await fulfil(event, redelivered.deps, { processed: true, orderStatus: 'placed' })).kind, 'done');
  assert.deepEqual(redelivered.calls, [], 'the feed said processed: nothing is called');
});

test('after a failed attempt the store is asked again, whatever the feed said', async () => {
  // The first attempt cannot read the order; by the second, the event may have been recorded meanwhile.
  const { calls, deps } = neighbours({ processed: true, status: 'placed', orderReadFailures: 1 });
  const outcome = await fulfilPatiently(event, deps, 10_000, undefined, { processed: false, orderStatus: null });
  assert.equal(outcome.kind, 'done');
  assert.deepEqual(calls, ['getOrder', 'isProcessed']);
});

test('the feed\'s word on the order\'s status replaces reading the order; a record callback replaces the store\'s record call', async () => {
  const placed = neighbours({ status: 'cancelled' });
  const recorded: string[] = [];
  const record = async (eventId: string) => { recorded.push(eventId); };
  assert.deepEqual(await fulfil(event, placed.deps, { processed: false, orderStatus: 'placed' }, record), { kind: 'done' });
  assert.deepEqual(placed.calls, ['submitFulfilment'], 'the feed said placed: sent without reading the order (which the store would call cancelled)');
  assert.deepEqual(recorded, [event.id]);
  const cancelled = neighbours({ status: 'placed' });
  const outcome = await fulfil(event, cancelled.deps, { processed: false, orderStatus: 'cancelled' }, record);
  assert.deepEqual(outcome, { kind: 'done', note: 'order is cancelled; not sent to the partner' });
  assert.deepEqual(cancelled.calls, [], 'not sent, and recorded through the callback');
  assert.deepEqual(recorded, [event.id, event.id]);
});

test('an order the feed does not know is looked up before the event is given up', async () => {
  const missing = neighbours({});
  const outcome = await fulfil(event, missing.deps, { processed: false, orderStatus: null });
  assert.equal(outcome.kind, 'dead');
  assert.deepEqual(missing.calls, ['getOrder']);
  const late = neighbours({ status: 'placed' });
  assert.deepEqual(await fulfil(event, late.deps, { processed: false, orderStatus: null }), { kind: 'done' });
  assert.deepEqual(late.calls, ['getOrder', 'submitFulfilment', 'recordProcessed'], 'the store holds it now: sent');
});

test('when recording fails the next attempt asks the store again, processed state and order both', async () => {
  const { calls, deps } = neighbours({ processed: false, status: 'placed' });
  let failures = 1;
  const record = async () => {
    if (failures-- > 0) throw new UpstreamError('unavailable', 'store', 'down', { retryable: true });
  };
  const outcome = await fulfilPatiently(event, deps, 10_000, undefined, { processed: false, orderStatus: 'placed' }, record);
  assert.equal(outcome.kind, 'done');
  assert.deepEqual(calls, ['submitFulfilment', 'isProcessed', 'getOrder', 'submitFulfilment'], 'the partner is asked again (it deduplicates by order id)');
});

test('an order cancelled before it was sent is not sent', async () => {
  const { calls, deps } = neighbours({ status: 'cancelled' });
  assert.equal((await fulfil(event, deps)).kind, 'done');
  assert.ok(!calls.includes('submitFulfilment'));
  assert.ok(calls.includes('recordProcessed'));
});

test('partner trouble is a retry; our own services being down is a wait that never counts', async () => {
  assert.equal((await fulfil(event, neighbours({ status: 'placed', partner: 503 }).deps)).kind, 'retry');
  const partnerDown = new UpstreamError('unavailable', 'partner', 'down', { retryable: true });
  assert.equal((await fulfil(event, neighbours({ status: 'placed', partner: partnerDown }).deps)).kind, 'retry');
  const storeDown = new UpstreamError('unavailable', 'store', 'down', { retryable: true });
  assert.equal((await fulfil(event, neighbours({ store: storeDown }).deps)).kind, 'wait');
  const patient = await fulfilPatiently(event, neighbours({ store: storeDown }).deps, 300);
  assert.equal(patient.kind, 'retry', 'after its budget, waiting becomes a retry');
});

test('refusals that no retry can fix are dead letters; a permanent refusal also fails the order', async () => {
  const signature = await fulfil(event, neighbours({ status: 'placed', partner: 401 }).deps);
  assert.ok(signature.kind === 'dead' && !signature.failOrder);
  const refused = neighbours({ status: 'placed', partner: 422 });
  const outcome = await fulfil(event, refused.deps);
  assert.ok(outcome.kind === 'dead' && outcome.failOrder);
  await deadLetter(event, outcome, 1, refused.deps);
  assert.deepEqual(refused.calls.slice(-2), ['addDeadLetter', 'failOrder']);
  const malformed = await fulfil({ ...event, data: { orderId: 'not-a-uuid' } }, neighbours().deps);
  assert.ok(malformed.kind === 'dead' && /contract/.test(malformed.error));
  assert.equal((await fulfil(event, neighbours({ status: undefined }).deps)).kind, 'dead', 'an event for an order that does not exist');
});
