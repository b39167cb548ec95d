/**
 * Test support: real spans from the OpenTelemetry SDK for one order's trace, shaped the way the
 * services report them (see the telemetry conventions), and helpers that send them to a console in
 * either OTLP encoding. Uses the console's devDependencies: tests only.
 */
import { gzipSync } from 'node:zlib';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span as ApiSpan } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

export interface OrderTrace {
  readonly spans: ReadableSpan[];
  readonly traceId: string;
  readonly requestId: string;
  /** The producer span of the order.placed event, and the consumer span linked to it. */
  readonly producerSpanId: string;
  readonly consumerSpanId: string;
}

export interface OrderTraceOptions {
  /** When the order request starts, epoch ms; defaults to now. */
  readonly startUnixMs?: number;
  readonly requestId?: string;
  /** Makes the partner answer 503 and the call fail, as a fault would. */
  readonly partnerFails?: boolean;
}

/**
 * One order, end to end: gateway → orders → store → database, the store's outbox event, and
 * integration's consumer span (a child of the producer's context, and linked to it) calling the
 * store and the partner.
 */
export function orderTrace(options: OrderTraceOptions = {}): OrderTrace {
  const t0 = options.startUnixMs ?? Date.now() - 200;
  const requestId = options.requestId ?? `req-${Math.random().toString(36).slice(2, 12)}`;
  const exporter = new InMemorySpanExporter();
  const providers = new Map<string, TracerProvider>();
  const tracer = (service: string) => {
    let provider = providers.get(service);
    if (!provider) {
      provider = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.namespace': 'msa-poc' }),
        spanProcessors: [new SimpleSpanProcessor({ exporter })],
      });
      providers.set(service, provider);
    }
    return provider.getTracer('msa-poc');
  };
  const span = (service: string, name: string, kind: SpanKind, from: number, to: number, attributes: Attributes, parent?: ApiSpan, links: Link[] = [], failed?: string): ApiSpan => {
    const context = parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
    const started = tracer(service).startSpan(name, { kind, attributes, links, startTime: t0 + from }, context);
    if (failed) started.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    started.end(t0 + to);
    return started;
  };
  const server = (service: string, method: string, route: string, status: number, caller: string, operation: string) =>
    ({ 'http.request.method': method, 'http.route': route, 'http.response.status_code': status, 'msa.operation': operation, 'msa.request_id': requestId, 'msa.caller': caller });
  const client = (peer: string, method: string, route: string, status: number, operation: string) =>
    ({ 'peer.service': peer, 'http.request.method': method, 'http.route': route, 'http.response.status_code': status, 'msa.operation': operation, 'msa.transport': 'https', 'http.request.body.size': 420, 'http.response.body.size': 980 });
  const database = (operation: string) =>
    ({ 'peer.service': 'database', 'db.system.name': 'postgresql', 'msa.db.engine': 'pglite', 'db.operation.name': operation, 'db.query.summary': operation });

  // Started outer to inner, so that each child can name its parent; every span ends at its own time.
  const edge = span('gateway', 'POST /v1/orders', SpanKind.SERVER, 0, 48, server('gateway', 'POST', '/v1/orders', 201, 'test-client', 'placeOrder'));
  const toOrders = span('gateway', 'POST /orders', SpanKind.CLIENT, 2, 45, client('orders', 'POST', '/orders', 201, 'placeOrder'), edge);
  const orders = span('orders', 'POST /orders', SpanKind.SERVER, 3, 44, server('orders', 'POST', '/orders', 201, 'gateway', 'placeOrder'), toOrders);
  const toStore = span('orders', 'POST /orders', SpanKind.CLIENT, 5, 40, client('store', 'POST', '/orders', 201, 'placeOrder'), orders);
  const store = span('store', 'POST /orders', SpanKind.SERVER, 6, 39, server('store', 'POST', '/orders', 201, 'orders', 'placeOrder'), toStore);
  span('store', 'placeOrder', SpanKind.CLIENT, 8, 30, database('placeOrder'), store);
  const eventId = '0195e3a4-7b1c-7000-8000-000000000001';
  const producer = span('store', 'publish orders.placed', SpanKind.PRODUCER, 31, 32, { 'messaging.system': 'outbox-feed', 'messaging.destination.name': 'orders.placed', 'messaging.message.id': eventId }, store);

  const consumer = span('integration', 'process orders.placed', SpanKind.CONSUMER, 60, 130,
    { 'messaging.system': 'outbox-feed', 'messaging.destination.name': 'orders.placed', 'messaging.message.id': eventId },
    producer, [{ context: producer.spanContext(), attributes: { 'msa.link': 'producer' } }], options.partnerFails ? 'partner unavailable' : undefined);
  const getOrder = span('integration', 'GET /orders/:id', SpanKind.CLIENT, 62, 70, client('store', 'GET', '/orders/:id', 200, 'getOrder'), consumer);
  const storeRead = span('store', 'GET /orders/:id', SpanKind.SERVER, 63, 69, server('store', 'GET', '/orders/:id', 200, 'integration', 'getOrder'), getOrder);
  span('store', 'getOrder', SpanKind.CLIENT, 64, 67, database('getOrder'), storeRead);
  const partnerStatus = options.partnerFails ? 503 : 202;
  const toPartner = span('integration', 'POST /fulfilments', SpanKind.CLIENT, 72, 110, client('partner', 'POST', '/fulfilments', partnerStatus, 'submitFulfilment'), consumer, [], options.partnerFails ? 'partner answered 503' : undefined);
  span('partner', 'POST /fulfilments', SpanKind.SERVER, 74, 108, server('partner', 'POST', '/fulfilments', partnerStatus, 'integration', 'submitFulfilment'), toPartner, [], options.partnerFails ? 'injected fault' : undefined);
  if (!options.partnerFails) {
    const record = span('integration', 'POST /processed-events', SpanKind.CLIENT, 112, 126, client('store', 'POST', '/processed-events', 200, 'recordProcessed'), consumer);
    const recorded = span('store', 'POST /processed-events', SpanKind.SERVER, 113, 125, server('store', 'POST', '/processed-events', 200, 'integration', 'recordProcessed'), record);
    span('store', 'recordProcessed', SpanKind.CLIENT, 115, 122, database('recordProcessed'), recorded);
  }

  return {
    spans: exporter.getFinishedSpans(),
    traceId: edge.spanContext().traceId,
    requestId,
    producerSpanId: producer.spanContext().spanId,
    consumerSpanId: consumer.spanContext().spanId,
  };
}

export const toProtobuf = (spans: ReadableSpan[]): Uint8Array => {
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('the OpenTelemetry serializer produced no protobuf body');
  return body;
};

export const toJson = (spans: ReadableSpan[]): Uint8Array => {
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('the OpenTelemetry serializer produced no JSON body');
  return body;
};

/** Sends spans to a console's OTLP endpoint the way an OTLP/HTTP exporter does. */
export async function exportSpans(otlpUrl: string, spans: ReadableSpan[], options: { format?: 'protobuf' | 'json'; gzip?: boolean } = {}): Promise<Response> {
  const format = options.format ?? 'protobuf';
  const encoded = format === 'protobuf' ? toProtobuf(spans) : toJson(spans);
  const body = options.gzip ? gzipSync(encoded) : encoded;
  return fetch(`${otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': format === 'protobuf' ? 'application/x-protobuf' : 'application/json', ...(options.gzip ? { 'content-encoding': 'gzip' } : {}) },
    body,
  });
}
