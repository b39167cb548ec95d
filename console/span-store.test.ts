import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobufRequest } from './otlp-protobuf.js';
import { acceptSpans, type Span } from './span.js';
import { SpanStore } from './span-store.js';
import { orderTrace, toProtobuf } from './testing.js';

const decoded = (options: Parameters<typeof orderTrace>[0] = {}) => {
  const trace = orderTrace(options);
  return { ...trace, spans: acceptSpans(decodeProtobufRequest(toProtobuf(trace.spans))).spans };
};

const span = (traceId: string, spanId: string, overrides: Partial<Span> = {}): Span => ({
  traceId: traceId.padStart(32, '0'), spanId: spanId.padStart(16, '0'), name: `span ${spanId}`, kind: 'server', service: 'orders',
  startUnixMs: 1_000, durationMs: 10, status: 'unset', attributes: {}, events: [], links: [], ...overrides,
});

test('keeps at most maxSpans by evicting whole traces, least recently active first, and counts them', () => {
  const store = new SpanStore({ maxSpans: 5, maxAgeMs: 60_000 });
  store.add([span('a', '1'), span('a', '2')], 1_000);
  store.add([span('b', '1'), span('b', '2')], 2_000);
  store.add([span('a', '3')], 3_000); // a is now the most recently active
  store.add([span('c', '1'), span('c', '2')], 4_000);
  assert.deepEqual(store.search({ limit: 10 }, 4_000).map((t) => t.traceId.slice(-1)).sort(), ['a', 'c'], 'b went whole, not a part of a');
  assert.equal(store.trace('a'.padStart(32, '0'), 4_000)?.spans.length, 3);
  assert.deepEqual({ ...store.stats(4_000), limits: undefined }, { traces: 2, spans: 5, limits: undefined, evictedTraces: 1, evictedSpans: 2, duplicateSpans: 0 });
});

test('drops traces not active for maxAgeMs', () => {
  const store = new SpanStore({ maxSpans: 100, maxAgeMs: 10_000 });
  store.add([span('a', '1')], 0);
  store.add([span('b', '1')], 5_000);
  assert.equal(store.stats(9_999).traces, 2);
  assert.equal(store.search({ limit: 10 }, 10_001).length, 1);
  assert.equal(store.trace('a', 10_001), undefined);
  assert.equal(store.stats(10_001).evictedTraces, 1);
  store.add([span('b', '2')], 14_000);
  assert.equal(store.stats(16_000).traces, 1, 'a late span keeps its trace alive');
});

test('keeps a span sent twice once, and answers only the new spans', () => {
  const store = new SpanStore();
  assert.equal(store.add([span('a', '1'), span('a', '2')]).length, 2);
  assert.deepEqual(store.add([span('a', '2'), span('a', '3')]).map((s) => s.spanId.slice(-1)), ['3']);
  assert.equal(store.stats().duplicateSpans, 1);
  assert.equal(store.stats().spans, 3);
});

test('finds traces by trace id, request id, route, status and service, newest first', () => {
  const store = new SpanStore();
  const ok = decoded({ requestId: 'req-ok-1', startUnixMs: 10_000 });
  const failing = decoded({ requestId: 'req-failing-1', partnerFails: true, startUnixMs: 20_000 });
  store.add([...ok.spans, ...failing.spans], 30_000);
  const ids = (query: Parameters<SpanStore['search']>[0]) => store.search(query, 30_000).map((t) => t.traceId);

  assert.deepEqual(ids({ limit: 10 }), [failing.traceId, ok.traceId]);
  assert.deepEqual(ids({ limit: 1 }), [failing.traceId]);
  assert.deepEqual(ids({ traceId: ok.traceId.toUpperCase(), limit: 10 }), [ok.traceId]);
  assert.deepEqual(ids({ requestId: 'req-ok-1', limit: 10 }), [ok.traceId]);
  assert.deepEqual(ids({ requestId: 'req-unknown', limit: 10 }), []);
  assert.deepEqual(ids({ route: '/PROCESSED', limit: 10 }), [ok.traceId], 'only the successful order recorded its processing');
  assert.deepEqual(ids({ status: 'error', limit: 10 }), [failing.traceId]);
  assert.deepEqual(ids({ status: 'ok', limit: 10 }), [ok.traceId]);
  assert.deepEqual(ids({ status: '503', limit: 10 }), [failing.traceId]);
  assert.deepEqual(ids({ status: '5xx', limit: 10 }), [failing.traceId]);
  assert.deepEqual(ids({ status: '201', limit: 10 }), [failing.traceId, ok.traceId]);
  assert.deepEqual(ids({ service: 'partner', status: '2xx', limit: 10 }), [failing.traceId, ok.traceId]);
  assert.deepEqual(ids({ service: 'billing', limit: 10 }), []);

  const summary = store.search({ traceId: ok.traceId, limit: 1 }, 30_000)[0];
  assert.deepEqual(summary, {
    traceId: ok.traceId, name: 'POST /v1/orders', service: 'gateway', startUnixMs: 10_000, durationMs: 130, spanCount: 16,
    services: ['gateway', 'integration', 'orders', 'partner', 'store'], errorCount: 0, statusCode: 201, requestId: 'req-ok-1',
  });
});

test('gives a trace as a waterfall: parents before children, siblings by start, links resolved', () => {
  const store = new SpanStore();
  const trace = decoded({ startUnixMs: 50_000 });
  // Arrival order is the exporters' business: the waterfall does not depend on it.
  store.add([...trace.spans].reverse());
  const detail = store.trace(trace.traceId);
  assert.ok(detail);
  assert.equal(detail.startUnixMs, 50_000);
  assert.equal(detail.durationMs, 130);
  assert.deepEqual(detail.spans.map((s) => `${'  '.repeat(s.depth)}${s.service} ${s.name}`), [
    'gateway POST /v1/orders',
    '  gateway POST /orders',
    '    orders POST /orders',
    '      orders POST /orders',
    '        store POST /orders',
    '          store placeOrder',
    '          store publish orders.placed',
    '            integration process orders.placed',
    '              integration GET /orders/:id',
    '                store GET /orders/:id',
    '                  store getOrder',
    '              integration POST /fulfilments',
    '                partner POST /fulfilments',
    '              integration POST /processed-events',
    '                store POST /processed-events',
    '                  store recordProcessed',
  ]);
  const consumer = detail.spans.find((s) => s.spanId === trace.consumerSpanId);
  assert.equal(consumer?.offsetMs, 60);
  assert.deepEqual(consumer?.links.map((l) => ({ ...l, attributes: { ...l.attributes } })), [
    { traceId: trace.traceId, spanId: trace.producerSpanId, attributes: { 'msa.link': 'producer' }, target: { service: 'store', name: 'publish orders.placed', sameTrace: true } },
  ]);
});

test('a trace whose root has not arrived yet still shows, rooted at its earliest orphan', () => {
  const store = new SpanStore();
  store.add([span('t', '2', { parentSpanId: '1'.padStart(16, '0'), startUnixMs: 5, name: 'child' }), span('t', '3', { parentSpanId: '2'.padStart(16, '0'), startUnixMs: 6, name: 'grandchild' })]);
  const detail = store.trace('t'.padStart(32, '0'));
  assert.deepEqual(detail?.spans.map((s) => [s.name, s.depth]), [['child', 0], ['grandchild', 1]]);
  assert.equal(store.search({ limit: 1 })[0]?.name, 'child');
});
