import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { criticalPathOf, summarizeChatter, summarizeCriticalPath, type SpanRecord } from './critical-path.js';

let next = 0;
const span = (service: string, kind: SpanRecord['kind'], startMs: number, endMs: number, parent?: SpanRecord, extra: Partial<SpanRecord> = {}): SpanRecord => ({
  traceId: 't1', spanId: `s${++next}`, ...(parent ? { parentSpanId: parent.spanId } : {}), service, kind, startMs, endMs, ...extra,
});

/** gateway → orders → store → database, then an async hop to the partner after the response. */
function placeOrderTrace(): SpanRecord[] {
  const gateway = span('gateway', 'server', 0, 20);
  const toOrders = span('gateway', 'client', 1, 19, gateway, { peerService: 'orders', requestBytes: 300, responseBytes: 500 });
  const orders = span('orders', 'server', 2, 18, toOrders);
  const toStore = span('orders', 'client', 3, 15, orders, { peerService: 'store', requestBytes: 400, responseBytes: 450 });
  const store = span('store', 'server', 4, 14, toStore);
  const statement = span('store', 'client', 5, 12, store, { peerService: 'database' });
  const publish = span('store', 'producer', 30, 31, store);
  const consume = span('integration', 'consumer', 32, 60, publish);
  const toPartner = span('integration', 'client', 33, 50, consume, { peerService: 'partner', requestBytes: 200, responseBytes: 100 });
  return [gateway, toOrders, orders, toStore, store, statement, publish, consume, toPartner];
}

describe('critical path and chatter from traces', () => {
  test('a chain of calls: each service keeps its own time, each hop the time its callee did not account for', () => {
    const path = criticalPathOf(placeOrderTrace());
    assert.deepEqual(Object.fromEntries(path), {
      'service:gateway': 2, 'edge:gateway->orders': 2, 'service:orders': 4, 'edge:orders->store': 2, 'service:store': 3, database: 7,
    });
    const summary = summarizeCriticalPath([placeOrderTrace(), placeOrderTrace()]);
    assert.equal(summary.traces, 2);
    assert.equal(summary.networkShare, 0.2);
    assert.deepEqual(summary.perEdge['orders->store'], { meanMs: 2, share: 0.1 });
    assert.deepEqual(summary.perService.database, { meanMs: 7, share: 0.35 });
    assert.equal(summary.perService.integration, undefined, 'work after the response is off the path');
  });

  test('of two parallel calls only the one the parent waited for longest is on the path', () => {
    const root = span('gateway', 'server', 0, 10);
    const slow = span('gateway', 'client', 1, 9, root, { peerService: 'orders' });
    const fast = span('gateway', 'client', 1, 4, root, { peerService: 'integration' });
    const path = criticalPathOf([root, slow, fast]);
    assert.equal(path.get('edge:gateway->orders'), 8);
    assert.equal(path.get('edge:gateway->integration'), undefined);
    assert.equal(path.get('service:gateway'), 2);
    const chatter = summarizeChatter([[root, slow, fast, span('gateway', 'client', 9.5, 9.8, root, { peerService: 'orders' })]]);
    assert.deepEqual(chatter.perEdge['gateway->orders'], { callsPerRequest: 2, bytesPerRequest: 0, roundTripsPerRequest: 2 });
  });

  test('chatter counts every hop a request causes, the asynchronous ones included, per request', () => {
    const chatter = summarizeChatter([placeOrderTrace(), placeOrderTrace()]);
    assert.deepEqual(chatter.perEdge, {
      'gateway->orders': { callsPerRequest: 1, bytesPerRequest: 800, roundTripsPerRequest: 1 },
      'integration->partner': { callsPerRequest: 1, bytesPerRequest: 300, roundTripsPerRequest: 1 },
      'orders->store': { callsPerRequest: 1, bytesPerRequest: 850, roundTripsPerRequest: 1 },
      'store->database': { callsPerRequest: 1, bytesPerRequest: 0, roundTripsPerRequest: 1 },
    });
  });

  test('a trace without the request that started it (only its async tail arrived) is not counted', () => {
    const orphan = [span('integration', 'consumer', 0, 5, { spanId: 'gone' } as SpanRecord)];
    assert.equal(summarizeCriticalPath([orphan]).traces, 0, 'a consumer span is not the request that started the trace');
    assert.deepEqual(summarizeChatter([orphan]).perEdge, {});
  });
});
