/**
 * Tracing across two platform services over real mutual TLS, with the SDK's in-memory exporter:
 * who is whose parent, what a retry looks like, what sampling drops, what an event hop links,
 * and that a collector that is down costs a service nothing but the spans.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { contract, route, topology, Problem } from '@msa-poc/contracts';
import type { FastifyInstance } from 'fastify';
import { createClient, type ClientHandle } from './client.js';
import { loadConfig, type TracingSettings } from './config.js';
import { loadIdentity, tlsClientOptions, tlsServerOptions } from './identity.js';
import { processEvent, startPublish } from './messaging.js';
import { Metrics } from './metrics.js';
import { ensurePki } from './pki.js';
import { createServer } from './server.js';
import { createLogger } from './telemetry.js';
import { SpanKind, SpanStatusCode, createTracing, type Tracing } from './tracing.js';

const Item = Type.Object({ id: Type.String(), hops: Type.Integer() }, { additionalProperties: false });
const storeLike = contract({
  service: 'store',
  version: '1.0.0',
  routes: {
    // A 503 is not in the contract: the client retries it as a failure of the peer.
    getItem: route({ method: 'GET', path: '/items/:id', summary: 'an item', params: Type.Object({ id: Type.String() }), responses: { 200: Item }, callers: ['orders'], idempotent: true }),
  },
});
const ordersLike = contract({
  service: 'orders',
  version: '1.0.0',
  routes: {
    getFront: route({ method: 'GET', path: '/front/:id', summary: 'an item, through the store', params: Type.Object({ id: Type.String() }), responses: { 200: Item, 503: Problem }, callers: ['gateway'], idempotent: true }),
  },
});

/** A port nobody listens on (it was free a moment ago). */
const closedPort = () => new Promise<number>((resolve) => {
  const server = createTcpServer().listen(0, '127.0.0.1', () => {
    const address = server.address();
    server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
  });
});

/** Settings as the environment gives them, with a short batch delay. */
const settings = (env: Record<string, string> = {}): TracingSettings => loadConfig({ OTEL_BSP_SCHEDULE_DELAY: '5', ...env }).tracing;

/** Log lines, parsed, as the service writes them. */
function logSink(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

let home: string;
const closers: (() => Promise<unknown>)[] = [];
let storeFails = 0;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'poc-tracing-'));
  await ensurePki({ dir: home, services: topology });
});

after(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(home, { recursive: true, force: true });
});

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  const address = app.server.address();
  return `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** The two services: `orders` answers by calling `store`; each has its own tracer and exporter. */
async function twoServices(options: { settings?: TracingSettings; retry?: boolean } = {}) {
  const exporters = { orders: new InMemorySpanExporter(), store: new InMemorySpanExporter() };
  const tracings: Record<'orders' | 'store', Tracing> = {
    orders: createTracing({ service: 'orders', settings: options.settings ?? settings(), exporter: exporters.orders }),
    store: createTracing({ service: 'store', settings: options.settings ?? settings(), exporter: exporters.store }),
  };
  const storeLog = logSink();
  const storeLogger = createLogger('store', 'info', storeLog.stream);
  const storeOrigin = await listen(await createServer({
    contract: storeLike,
    handlers: {
      getItem: async ({ params }) => {
        storeLogger.info({ item: params.id }, 'reading the item');
        if (storeFails > 0) {
          storeFails -= 1;
          return { status: 503, body: { type: 'https://msa-poc.local/problems/unavailable', title: 'A dependency is unavailable', status: 503 } } as never;
        }
        return { status: 200 as const, body: { id: params.id, hops: 1 } };
      },
    },
    tls: tlsServerOptions(loadIdentity(home, 'store'), { requireClientCert: true }),
    exposure: 'internal', publicOrigin: 'https://127.0.0.1', log: storeLogger, metrics: new Metrics('store'), tracer: tracings.store.tracer,
  }));
  const toStore = createClient(storeLike, {
    origin: storeOrigin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store'), tracer: tracings.orders.tracer,
    retry: options.retry ? { attempts: 3, baseMs: 1, capMs: 2 } : { attempts: 1, baseMs: 0, capMs: 0 },
  });
  closers.push(() => toStore.close());
  const ordersOrigin = await listen(await createServer({
    contract: ordersLike,
    handlers: {
      getFront: async ({ params }) => {
        const reply = await toStore.client.getItem({ params });
        return { status: 200 as const, body: { ...reply.body, hops: reply.body.hops + 1 } };
      },
    },
    tls: tlsServerOptions(loadIdentity(home, 'orders'), { requireClientCert: true }),
    exposure: 'internal', publicOrigin: 'https://127.0.0.1', log: createLogger('orders', 'silent'), metrics: new Metrics('orders'), tracer: tracings.orders.tracer,
  }));
  // The edge's call carries no trace: the orders server span starts it.
  const edge: ClientHandle<typeof ordersLike> = createClient(ordersLike, { origin: ordersOrigin, peer: 'orders', connect: tlsClientOptions(loadIdentity(home, 'gateway'), 'orders') });
  closers.push(() => edge.close());
  const spans = async () => {
    await Promise.all([tracings.orders.flush(), tracings.store.flush()]);
    return { orders: exporters.orders.getFinishedSpans(), store: exporters.store.getFinishedSpans() };
  };
  /** The trace id the orders service answers with (x-trace-id), for a request the typed client cannot show headers of. */
  const traceIdOf = (path: string) => new Promise<string>((resolve, reject) => {
    const identity = loadIdentity(home, 'gateway');
    httpsRequest(`${ordersOrigin}${path}`, { ca: identity.ca, cert: identity.cert, key: identity.key, checkServerIdentity: () => undefined }, (response) => {
      response.resume();
      response.on('end', () => resolve(String(response.headers['x-trace-id'])));
    }).on('error', reject).end();
  });
  return { edge: edge.client, spans, storeLog: storeLog.lines, traceIdOf };
}

const only = (spans: readonly ReadableSpan[], what: string, predicate: (span: ReadableSpan) => boolean): ReadableSpan => {
  const found = spans.filter(predicate);
  assert.equal(found.length, 1, `${what}: ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  return found[0] as ReadableSpan;
};

test("a call from one service to another: the callee's server span is a child of the caller's client span, itself a child of the caller's server span", async () => {
  const { edge, spans, storeLog } = await twoServices();
  const reply = await edge.getFront({ params: { id: 'a1' } }, { headers: { 'x-request-id': 'req-trace-0001' } });
  assert.equal(reply.status, 200);
  const { orders, store } = await spans();

  const ordersServer = only(orders, 'orders server span', (s) => s.kind === SpanKind.SERVER);
  assert.equal(ordersServer.name, 'GET /front/:id');
  assert.equal(ordersServer.parentSpanContext, undefined, 'the trace starts here');
  assert.equal(ordersServer.resource.attributes['service.name'], 'orders');
  assert.equal(ordersServer.resource.attributes['service.namespace'], 'msa-poc');
  assert.deepEqual(
    { route: ordersServer.attributes['http.route'], method: ordersServer.attributes['http.request.method'], status: ordersServer.attributes['http.response.status_code'], operation: ordersServer.attributes['msa.operation'], caller: ordersServer.attributes['msa.caller'], requestId: ordersServer.attributes['msa.request_id'] },
    { route: '/front/:id', method: 'GET', status: 200, operation: 'getFront', caller: 'gateway', requestId: 'req-trace-0001' },
  );

  const ordersClient = only(orders, 'orders client span', (s) => s.kind === SpanKind.CLIENT);
  assert.equal(ordersClient.name, 'GET /items/:id');
  assert.equal(ordersClient.parentSpanContext?.spanId, ordersServer.spanContext().spanId);
  assert.equal(ordersClient.attributes['peer.service'], 'store');
  assert.equal(ordersClient.attributes['msa.operation'], 'getItem');
  assert.equal(ordersClient.attributes['msa.transport'], 'https');
  assert.equal(ordersClient.attributes['http.response.status_code'], 200);
  assert.ok(Number(ordersClient.attributes['http.response.body.size']) > 0);

  const storeServer = only(store, 'store server span', (s) => s.kind === SpanKind.SERVER);
  assert.equal(storeServer.spanContext().traceId, ordersServer.spanContext().traceId, 'one trace');
  assert.equal(storeServer.parentSpanContext?.spanId, ordersClient.spanContext().spanId);
  assert.equal(storeServer.parentSpanContext?.isRemote, true);
  assert.equal(storeServer.resource.attributes['service.name'], 'store');
  assert.equal(storeServer.attributes['msa.caller'], 'orders');

  const line = storeLog.find((l) => l.msg === 'reading the item');
  assert.ok(line, 'the handler logged');
  assert.deepEqual(
    { service: line.service, request_id: line.request_id, trace_id: line.trace_id, span_id: line.span_id },
    { service: 'store', request_id: 'req-trace-0001', trace_id: storeServer.spanContext().traceId, span_id: storeServer.spanContext().spanId },
    'a log line inside a request names the service, the request, and the span it was written in',
  );
});

test('a retried call: the first attempt is the call span, each retry a child span with its resend count, and each reaches the callee under its own span', async () => {
  const { edge, spans } = await twoServices({ retry: true });
  storeFails = 1;
  const reply = await edge.getFront({ params: { id: 'a2' } });
  assert.equal(reply.status, 200);
  const { orders, store } = await spans();
  const call = only(orders, 'the call span', (s) => s.kind === SpanKind.CLIENT && s.attributes['http.request.resend_count'] === undefined);
  const resend = only(orders, 'the retry span', (s) => s.kind === SpanKind.CLIENT && s.attributes['http.request.resend_count'] === 1);
  assert.equal(resend.name, call.name);
  assert.equal(resend.parentSpanContext?.spanId, call.spanContext().spanId);
  assert.equal(resend.attributes['peer.service'], 'store');
  assert.equal(call.status.code, SpanStatusCode.UNSET, 'the call succeeded in the end');
  assert.equal(call.attributes['http.response.status_code'], 200);
  const [failed, succeeded] = [...store].filter((s) => s.kind === SpanKind.SERVER).sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  assert.equal(failed?.parentSpanContext?.spanId, call.spanContext().spanId);
  assert.equal(failed?.status.code, SpanStatusCode.ERROR, 'a 5xx is an error of the server span');
  assert.equal(failed?.attributes['error.type'], '503');
  assert.equal(succeeded?.parentSpanContext?.spanId, resend.spanContext().spanId);
});

test('with a sampling ratio of 0 no span is exported, yet every response still names a trace', async () => {
  const { edge, spans, traceIdOf } = await twoServices({ settings: settings({ OTEL_TRACES_SAMPLER_ARG: '0' }) });
  const front = await edge.getFront({ params: { id: 'a3' } });
  assert.equal(front.status, 200);
  assert.match(await traceIdOf('/front/a4'), /^(?!0{32})[0-9a-f]{32}$/);
  const { orders, store } = await spans();
  assert.deepEqual([orders.length, store.length], [0, 0]);
});

test('a consumer span is a child of the publish the event carries, and links to it; each attempt is its own span', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ service: 'integration', settings: settings(), exporter });
  const metrics = new Metrics('integration');
  const telemetry = { tracer: tracing.tracer, metrics };
  const hop = { system: 'outbox-feed', destination: 'orders.placed' } as const;
  const publication = startPublish(telemetry, hop, 'event-1');
  const event = publication.stamp({ id: 'event-1', traceparent: '00-11111111111111111111111111111111-2222222222222222-01', data: {} });
  publication.end();
  assert.notEqual(event.traceparent, '00-11111111111111111111111111111111-2222222222222222-01', 'the event carries its publish, not what it carried before');
  for (const attempt of [1, 2]) {
    await processEvent(telemetry, hop, { event, consumer: 'integration', attempt }, async () => (attempt === 1 ? 'later' : 'done'), (result) => (result === 'done' ? { outcome: 'processed' } : { outcome: 'retry', failure: 'partner unavailable' }));
  }
  await tracing.flush();
  const spans = exporter.getFinishedSpans();
  const producer = only(spans, 'producer', (s) => s.kind === SpanKind.PRODUCER);
  assert.equal(producer.name, 'publish orders.placed');
  assert.equal(producer.attributes['messaging.system'], 'outbox-feed');
  assert.equal(producer.attributes['messaging.message.id'], 'event-1');
  const consumers = spans.filter((s) => s.kind === SpanKind.CONSUMER);
  assert.equal(consumers.length, 2);
  for (const consumer of consumers) {
    assert.equal(consumer.name, 'process orders.placed');
    assert.equal(consumer.spanContext().traceId, producer.spanContext().traceId);
    assert.equal(consumer.parentSpanContext?.spanId, producer.spanContext().spanId);
    assert.deepEqual(consumer.links.map((l) => l.context.spanId), [producer.spanContext().spanId]);
  }
  assert.deepEqual(consumers.map((c) => [c.attributes['msa.messaging.delivery_count'], c.status.code]), [[1, SpanStatusCode.ERROR], [2, SpanStatusCode.UNSET]]);
  const text = await metrics.registry.metrics();
  assert.match(text, /messaging_client_operation_duration_seconds_count\{[^}]*messaging_operation_name="process",messaging_destination_name="orders.placed",outcome="retry"\} 1/);
  assert.match(text, /messaging_client_operation_duration_seconds_count\{[^}]*messaging_operation_name="publish",messaging_destination_name="orders.placed",outcome="published"\} 1/);
});

/**
 * A collector that refuses connections fails each export at once; one that accepts and never
 * answers holds each export until its timeout, so spans pile up and the bounded queue drops them.
 */
async function collector(behaviour: 'refusing' | 'hanging'): Promise<{ port: number; close: () => Promise<void> }> {
  if (behaviour === 'refusing') return { port: await closedPort(), close: async () => undefined };
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

for (const behaviour of ['refusing', 'hanging'] as const) {
  test(`a collector that is down (${behaviour}): requests stay fast, the service lives, lost spans are counted and the outage is logged once`, async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const down = await collector(behaviour);
    closers.push(down.close);
    const metrics = new Metrics('store');
    const logs = logSink();
    const log = createLogger('store', 'info', logs.stream);
    const tracing = createTracing({
      service: 'store', metrics, log,
      settings: settings({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${down.port}`, OTEL_BSP_MAX_QUEUE_SIZE: '16', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '8', OTEL_BSP_EXPORT_TIMEOUT: '300' }),
    });
    const origin = await listen(await createServer({
      contract: storeLike,
      handlers: { getItem: async ({ params }) => ({ status: 200 as const, body: { id: params.id, hops: 0 } }) },
      tls: tlsServerOptions(loadIdentity(home, 'store'), { requireClientCert: true }),
      exposure: 'internal', publicOrigin: 'https://127.0.0.1', log, metrics, tracer: tracing.tracer,
    }));
    const handle = createClient(storeLike, { origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store') });
    closers.push(() => handle.close());
    await handle.client.getItem({ params: { id: 'warm-up' } });
    const durations: number[] = [];
    for (let i = 0; i < 300; i++) {
      const started = performance.now();
      assert.equal((await handle.client.getItem({ params: { id: `i${i}` } })).status, 200);
      durations.push(performance.now() - started);
    }
    durations.sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] as number;
    assert.ok(median < 50, `median ${median.toFixed(1)} ms with the collector down`);

    const sample = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
    const failedExports = /^otel_sdk_exporter_span_exported_total\{[^}]*error_type="[^"]+"[^}]*\} (\d+)/m;
    const droppedForFullQueue = /^otel_sdk_processor_span_processed_total\{[^}]*error_type="queue_full"[^}]*\} (\d+)/m;
    let text = '';
    for (let waited = 0; waited < 10_000; waited += 100) {
      text = await metrics.registry.metrics();
      if (sample(text, failedExports) > 0 && (behaviour === 'refusing' || sample(text, droppedForFullQueue) > 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const otel = text.split('\n').filter((l) => l.startsWith('otel_sdk')).join('\n');
    assert.ok(sample(text, failedExports) > 0, `failed exports are counted:\n${otel}`);
    if (behaviour === 'hanging') assert.ok(sample(text, droppedForFullQueue) > 0, `spans that found the queue full are counted:\n${otel}`);
    assert.match(text, /^otel_sdk_processor_span_queue_size\{[^}]*\} \d+/m);
    const warnings = logs.lines.filter((l) => String(l.msg).startsWith('spans cannot be exported'));
    assert.equal(warnings.length, 1, 'one warning for the outage, not one per span or batch');
    assert.equal(warnings[0]?.endpoint, `http://127.0.0.1:${down.port}/v1/traces`);
    const started = performance.now();
    await tracing.shutdown(1_000);
    assert.ok(performance.now() - started < 1_500, 'shutting down does not wait for the collector');
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, []);
  });
}
