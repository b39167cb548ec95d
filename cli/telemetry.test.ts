/**
 * The whole system's telemetry as the console receives and scrapes it: an order placed through
 * the gateway is one trace across every service, the asynchronous hop included, and every admin
 * port exposes the metrics the console and the proving run rely on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Order, PlaceOrderInput } from '@msa-poc/contracts';
import { decodeProtobufRequest } from '@msa-poc/console/otlp-protobuf';
import { exposedMetrics, grafanaDashboard, queriedMetrics } from '@msa-poc/deploy/monitoring';
import { freePorts, startTestSystem, type TestSystem, eventually } from './testing.js';

/** A span as an OTLP export carries it, with its service from the resource. */
interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly links: readonly { traceId: string; spanId: string }[];
  /** 2 is ERROR. */
  readonly statusCode: number;
}

const kind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

interface OtlpValue { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean }
interface OtlpAttribute { key: string; value: OtlpValue }
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: OtlpAttribute[]; links?: { traceId: string; spanId: string }[]; status?: { code?: number } }[] }[];
  }[];
}

const valueOf = (value: OtlpValue): unknown => value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue;
const attributesOf = (list: OtlpAttribute[] | undefined): Record<string, unknown> => Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));

/**
 * A stand-in for the console's OTLP/HTTP receiver: accepts exports in JSON, and in protobuf through
 * the console's own decoder, and keeps their spans.
 */
async function otlpReceiver(port: number): Promise<{ spans: ReceivedSpan[]; requests: () => number; close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests += 1;
      const type = String(request.headers['content-type']);
      if (request.method !== 'POST' || request.url !== '/v1/traces' || !(type.includes('application/json') || type.includes('application/x-protobuf'))) {
        response.writeHead(400).end();
        return;
      }
      const body = Buffer.concat(chunks);
      if (type.includes('application/x-protobuf')) {
        for (const resource of decodeProtobufRequest(body)) {
          const service = String(resource.resourceAttributes.find((a) => a.key === 'service.name')?.value);
          for (const span of resource.spans) {
            spans.push({
              service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, name: span.name, kind: span.kind,
              attributes: Object.fromEntries(span.attributes.map((a) => [a.key, a.value])), links: span.links, statusCode: span.status.code,
            });
          }
        }
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        return;
      }
      const exported = JSON.parse(body.toString('utf8')) as OtlpExport;
      for (const resource of exported.resourceSpans ?? []) {
        const service = String(attributesOf(resource.resource?.attributes)['service.name']);
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', name: span.name, kind: span.kind,
              attributes: attributesOf(span.attributes), links: span.links ?? [], statusCode: span.status?.code ?? 0,
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { spans, requests: () => requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const address = { name: 'Grace Hopper', line1: '1 Compiler Lane', city: 'Arlington', postalCode: '22201', country: 'US' };
const order: PlaceOrderInput = { customerId: 'traced', items: [{ sku: 'SKU-0005', quantity: 1 }], shippingAddress: address };

/** Every metric family each service must expose (the conventions shared with the console); `all` applies to every service. */
const expectedMetrics: Record<string, readonly string[]> = {
  all: [
    'http_server_request_duration_seconds', 'http_server_active_requests', 'http_client_request_duration_seconds', 'http_client_retries_total', 'circuit_breaker_state',
    'nodejs_eventloop_utilization_ratio', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total', 'process_resident_memory_bytes',
    'otel_sdk_processor_span_processed_total', 'otel_sdk_processor_span_queue_size',
  ],
  gateway: ['rate_limit_rejections_total'],
  store: ['db_client_operation_duration_seconds', 'db_client_connection_count', 'db_client_connection_pending_requests', 'messaging_client_operation_duration_seconds', 'outbox_lag_seconds', 'outbox_pending_events'],
  integration: ['messaging_client_operation_duration_seconds', 'messaging_consumer_lag_events', 'dead_letters_total'],
};

// Spans leave in protobuf (the default, the platform's own encoder) or in JSON (OpenTelemetry's).
const variants = [
  { profile: 'embedded', topology: 'split', protocol: 'http/protobuf' },
  { profile: 'production', topology: 'split', protocol: 'http/json' },
  // Co-located: the same trace and the same metrics, with in-process hops between the components.
  { profile: 'embedded', topology: 'colocated', protocol: 'http/protobuf' },
] as const;

for (const { profile, topology, protocol } of variants) {
  describe(`telemetry (${profile} profile, ${topology}, ${protocol})`, { timeout: 180_000 }, () => {
    const transport = topology === 'split' ? 'https' : 'inproc';
    let system: TestSystem;
    let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
    before(async () => {
      const [port] = await freePorts(1);
      receiver = await otlpReceiver(port as number);
      system = await startTestSystem({
        profile,
        topology,
        env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '100' },
      });
    });
    after(async () => {
      await system?.dispose();
      await receiver?.close();
    });

    test('an order placed through the gateway is one trace: gateway, orders, store, the event hop, integration, partner and its callback', async () => {
      const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order, headers: { 'idempotency-key': `traced-${profile}-${Date.now()}` } });
      assert.equal(placed.status, 201, JSON.stringify(placed.body));
      const traceId = String(placed.headers['x-trace-id']);
      const requestId = String(placed.headers['x-request-id']);
      await eventually('fulfilment', async () => ((await system.api.call<Order>('GET', `/v1/orders/${placed.body.id}`)).body.status === 'fulfilled' ? true : undefined), 30_000);
      // Complete once the partner's callback reached the gateway (the story's end) and every span's
      // parent is there too (spans are exported as they end, a parent after its children).
      const spans = await eventually('the whole trace to arrive', () => {
        const found = receiver.spans.filter((s) => s.traceId === traceId);
        const ids = new Set(found.map((s) => s.spanId));
        const orphans = found.filter((s) => s.parentSpanId !== '' && !ids.has(s.parentSpanId) && !(s.service === 'gateway' && s.name === 'POST /v1/orders'));
        const ended = found.some((s) => s.service === 'gateway' && s.attributes['msa.operation'] === 'partnerCallback' && s.kind === kind.server);
        return ended && orphans.length === 0 ? found : undefined;
      }, 30_000);
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const one = (what: string, predicate: (s: ReceivedSpan) => boolean): ReceivedSpan => {
        const found = spans.filter(predicate);
        assert.ok(found.length >= 1, `${what}: none among ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`);
        return found[0] as ReceivedSpan;
      };
      const parentOf = (span: ReceivedSpan) => byId.get(span.parentSpanId);

      assert.deepEqual([...new Set(spans.map((s) => s.service))].sort(), ['gateway', 'integration', 'orders', 'partner', 'store']);

      const edge = one('the gateway server span', (s) => s.service === 'gateway' && s.kind === kind.server && s.name === 'POST /v1/orders');
      assert.equal(edge.attributes['http.request.method'], 'POST');
      assert.equal(edge.attributes['http.route'], '/v1/orders');
      assert.equal(edge.attributes['http.response.status_code'], 201);
      assert.equal(edge.attributes['msa.operation'], 'placeOrder');
      assert.equal(edge.attributes['msa.request_id'], requestId);
      assert.equal(edge.attributes['msa.caller'], 'test-client');

      const toOrders = one('gateway → orders', (s) => s.service === 'gateway' && s.kind === kind.client && s.attributes['peer.service'] === 'orders');
      assert.equal(parentOf(toOrders), edge);
      assert.equal(toOrders.attributes['msa.operation'], 'placeOrder');
      assert.equal(toOrders.attributes['msa.transport'], transport);
      assert.ok(Number(toOrders.attributes['http.request.body.size']) > 0 && Number(toOrders.attributes['http.response.body.size']) > 0, 'bytes on the wire');
      const ordersServer = one('the orders server span', (s) => s.service === 'orders' && s.kind === kind.server && s.attributes['msa.operation'] === 'placeOrder');
      assert.equal(parentOf(ordersServer), toOrders);
      assert.equal(ordersServer.attributes['msa.caller'], 'gateway');

      const toStore = one('orders → store', (s) => s.service === 'orders' && s.kind === kind.client && s.attributes['msa.operation'] === 'placeOrder');
      const storeServer = one('the store server span', (s) => s.service === 'store' && s.kind === kind.server && s.attributes['msa.operation'] === 'placeOrder');
      assert.equal(parentOf(storeServer), toStore);
      assert.equal(toStore.attributes['msa.transport'], transport);
      const statement = one('the placeOrder statement', (s) => s.service === 'store' && s.kind === kind.client && s.name === 'placeOrder');
      assert.equal(parentOf(statement), storeServer);
      assert.equal(statement.attributes['peer.service'], 'database');
      assert.equal(statement.attributes['db.system.name'], 'postgresql');
      assert.equal(statement.attributes['msa.db.engine'], profile === 'embedded' ? 'pglite' : 'pg');
      assert.match(String(statement.attributes['db.query.summary']), /orders/);

      const publish = one('the publish', (s) => s.kind === kind.producer && s.name === 'publish orders.placed');
      assert.equal(publish.service, 'store');
      assert.equal(publish.attributes['messaging.system'], profile === 'embedded' ? 'outbox-feed' : 'nats');
      assert.equal(parentOf(publish), storeServer, 'the publish continues the request that wrote the event');
      const consume = one('the first processing', (s) => s.kind === kind.consumer && s.name === 'process orders.placed');
      assert.equal(consume.service, 'integration');
      assert.equal(consume.parentSpanId, publish.spanId, 'the consumer is a child of the publish');
      assert.ok(consume.links.some((l) => l.spanId === publish.spanId && l.traceId === traceId), 'and links to it');
      assert.equal(consume.attributes['messaging.message.id'], publish.attributes['messaging.message.id']);
      if (profile === 'embedded') {
        const polls = receiver.spans.filter((s) => s.service === 'integration' && s.attributes['msa.operation'] === 'readEvents');
        assert.ok(polls.length > 0 && polls.every((poll) => poll.attributes['messaging.operation.name'] === 'receive'), 'a long poll of the feed, retries included, says it is a receive');
      }
      if (profile === 'production') {
        const batch = receiver.spans.find((s) => s.name === 'outbox relay' && publish.links.some((l) => l.spanId === s.spanId));
        assert.ok(batch, 'the publish links to the relay batch that sent it');
        assert.ok(Number(batch.attributes['messaging.batch.message_count']) >= 1);
      }

      const toPartner = one('integration → partner', (s) => s.service === 'integration' && s.kind === kind.client && s.attributes['peer.service'] === 'partner');
      let ancestor = parentOf(toPartner);
      while (ancestor && ancestor !== consume) ancestor = parentOf(ancestor);
      assert.equal(ancestor, consume, 'the partner call happens while processing the event');
      assert.equal(toPartner.attributes['msa.transport'], 'https', 'the external partner is across the network in every topology');
      const partnerServer = one('the partner server span', (s) => s.service === 'partner' && s.kind === kind.server);
      assert.equal(parentOf(partnerServer), toPartner);
      assert.equal(partnerServer.attributes['msa.caller'], 'integration');
      const callback = one('the partner callback at the gateway', (s) => s.service === 'gateway' && s.kind === kind.server && s.attributes['msa.operation'] === 'partnerCallback');
      assert.equal(parentOf(callback)?.service, 'partner');
      assert.equal(callback.attributes['msa.caller'], 'partner');

      for (const span of spans) {
        assert.ok(span.parentSpanId === '' || byId.has(span.parentSpanId) || span === edge, `${span.service}:${span.name} hangs under a span of the trace`);
        assert.doesNotMatch(JSON.stringify(span.attributes), /Grace Hopper|Compiler Lane/, `${span.service}:${span.name} carries no personal data`);
      }
    });

    test('every admin port exposes the metrics the conventions name', async () => {
      for (const [name, service] of system.services) {
        const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
        for (const metric of [...(expectedMetrics.all ?? []), ...(expectedMetrics[name] ?? [])]) {
          assert.match(text, new RegExp(`^# TYPE ${metric} `, 'm'), `${name} exposes ${metric}`);
        }
        assert.match(text, new RegExp(`^http_server_request_duration_seconds_bucket\\{[^}]*service="${name}"`, 'm'), `${name}'s samples carry its name`);
        if (name === 'store') {
          assert.match(text, /^db_client_connection_count\{state="idle"/m);
          assert.match(text, /^db_client_operation_duration_seconds_count\{[^}]*db_operation_name="placeOrder",outcome="ok"/m);
          assert.match(text, /^outbox_pending_events\{[^}]*\} \d/m);
        }
        if (name === 'integration') assert.match(text, /^messaging_client_operation_duration_seconds_count\{[^}]*messaging_operation_name="process",messaging_destination_name="orders.placed",outcome="processed"/m);
      }
    });

    test('every metric the Grafana dashboard queries is one some service exposes', async () => {
      const exposed = new Set<string>();
      for (const service of system.services.values()) {
        for (const name of exposedMetrics(await (await fetch(`${service.adminUrl}/metrics`)).text())) exposed.add(name);
      }
      const queried = queriedMetrics(grafanaDashboard());
      assert.ok(queried.length >= 15, `the dashboard queries ${queried.length} metrics`);
      assert.deepEqual(queried.filter((name) => !exposed.has(name)), [], 'queried but exposed by no service');
    });
  });
}
