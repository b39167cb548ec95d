import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogHistogram } from './histogram.js';
import { decodeProtobufRequest } from './otlp-protobuf.js';
import { acceptSpans, type Span } from './span.js';
import { SpanStore } from './span-store.js';
import { orderTrace, toProtobuf } from './testing.js';
import { TrafficWindow } from './traffic.js';

const bucketMs = 5_000;
const t0 = 1_000_000_000_000; // a whole number of buckets: windows line up with them

const decodedOrder = (options: Parameters<typeof orderTrace>[0] = {}): Span[] => acceptSpans(decodeProtobufRequest(toProtobuf(orderTrace(options).spans))).spans;

/** Feeds spans the way the console does: into the store, then, as received, into the window. */
function feed(store: SpanStore, window: TrafficWindow, spans: Span[], at: number): void {
  window.observe(store.add(spans, at), (traceId, spanId) => store.span(traceId, spanId), at);
}

test('per-service RED from server spans and per-edge figures from client spans, over the window', () => {
  const store = new SpanStore();
  const window = new TrafficWindow({ bucketMs, retainMs: 15 * 60_000 }, t0 - 3_600_000);
  // 30 orders over 60 s, every third one with a failing partner.
  for (let i = 0; i < 30; i++) feed(store, window, decodedOrder({ partnerFails: i % 3 === 0 }), t0 + i * 2_000);
  const now = t0 + 60_000;

  const services = new Map(window.services({ windowMs: 60_000, seriesMs: 60_000 }, now).map((s) => [s.name, s]));
  const gateway = services.get('gateway');
  assert.equal(gateway?.count, 30);
  assert.equal(gateway?.rate, 0.5);
  assert.equal(gateway?.errorPercent, 0);
  assert.ok(Math.abs((gateway?.p50Ms ?? 0) - 48) / 48 < 0.03, `gateway p50 ${gateway?.p50Ms}`);
  const partner = services.get('partner');
  assert.equal(partner?.count, 30);
  assert.equal(partner?.errors, 10);
  assert.ok(Math.abs((partner?.errorPercent ?? 0) - 100 / 3) < 1e-9);
  assert.equal(services.has('database'), false, 'the database serves no spans of its own');

  const edges = new Map(window.edges({ windowMs: 60_000 }, now).map((e) => [`${e.from}>${e.to}:${e.kind}`, e]));
  assert.deepEqual([...edges.keys()].sort(), [
    'gateway>orders:call', 'integration>partner:call', 'integration>store:call', 'orders>store:call', 'store>database:call', 'store>integration:event',
  ]);
  assert.equal(edges.get('gateway>orders:call')?.rate, 0.5);
  assert.equal(edges.get('store>database:call')?.count, 30 + 30 + 20, 'placeOrder, getOrder and recordProcessed');
  assert.equal(edges.get('integration>partner:call')?.errors, 10);
  const event = edges.get('store>integration:event');
  assert.equal(event?.count, 30);
  assert.equal(event?.errors, 10, 'a consumer span that failed');
  assert.ok(Math.abs((event?.p50Ms ?? 0) - 28) / 28 < 0.03, `delivery lag p50 ${event?.p50Ms}: publish ends at 32 ms, processing starts at 60 ms`);

  // The series: one point per bucket, two orders in each full 5 s bucket.
  const series = gateway?.series ?? [];
  assert.equal(series.length, 12);
  assert.deepEqual(series.slice(0, 3).map((p) => [p.atUnixMs - t0, p.count]), [[5_000, 2], [10_000, 3], [15_000, 2]]);

  // Later, the window holds only what is recent.
  const later = window.edges({ windowMs: 10_000 }, t0 + 70_000);
  assert.equal(later.length, 0);
});

test('a rate over a window longer than the console has run is over the time it ran', () => {
  const store = new SpanStore();
  const window = new TrafficWindow({ bucketMs, retainMs: 60_000 }, t0);
  feed(store, window, decodedOrder(), t0 + 1_000);
  feed(store, window, decodedOrder(), t0 + 9_000);
  const gateway = window.services({ windowMs: 60_000, seriesMs: 60_000 }, t0 + 10_000).find((s) => s.name === 'gateway');
  assert.equal(gateway?.rate, 0.2, '2 requests in the 10 s since start, not in 60 s');
});

test('a consumer span that arrives before its producer span is counted once the producer comes', () => {
  const store = new SpanStore();
  const window = new TrafficWindow({ bucketMs, retainMs: 60_000 }, t0);
  const spans = decodedOrder();
  const producer = spans.filter((s) => s.kind === 'producer');
  feed(store, window, spans.filter((s) => s.kind !== 'producer'), t0 + 1_000);
  assert.equal(window.edges({ windowMs: 60_000 }, t0 + 2_000).some((e) => e.kind === 'event'), false);
  feed(store, window, producer, t0 + 3_000);
  const event = window.edges({ windowMs: 60_000 }, t0 + 4_000).find((e) => e.kind === 'event');
  assert.deepEqual([event?.from, event?.to, event?.count], ['store', 'integration', 1]);
});

test('names asked for are listed even when idle, with empty figures', () => {
  const window = new TrafficWindow({ bucketMs, retainMs: 60_000 }, t0);
  const [idle] = window.services({ windowMs: 60_000, seriesMs: 20_000, names: ['orders'] }, t0 + 30_000);
  assert.deepEqual({ ...idle, series: idle?.series.length }, { name: 'orders', rate: 0, count: 0, errors: 0, errorPercent: null, p50Ms: null, p99Ms: null, series: 4 });
});

test('the histogram reports percentiles within its bucket resolution and never beyond what it saw', () => {
  const histogram = new LogHistogram();
  for (let i = 1; i <= 1000; i++) histogram.record(i / 10); // 0.1 ms .. 100 ms, uniform
  const p50 = histogram.percentile(0.5)!;
  const p99 = histogram.percentile(0.99)!;
  assert.ok(Math.abs(p50 - 50) / 50 < 0.025, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - 99) / 99 < 0.025, `p99 ${p99}`);
  const top = histogram.percentile(1)!;
  assert.ok(top <= 100 && top > 97.5, `p100 ${top}`);
  const single = new LogHistogram();
  single.record(7);
  assert.equal(single.percentile(0.5), 7);
  assert.equal(new LogHistogram().percentile(0.5), undefined);
  const merged = new LogHistogram();
  merged.merge(histogram);
  merged.merge(single);
  assert.equal(merged.count, 1001);
});
