/**
 * The hand-written OTLP protobuf encoder against OpenTelemetry's own serializer: the same spans must
 * come out as the same bytes, whatever the spans hold, and the bytes must be what the spans say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Attributes } from '@opentelemetry/api';
import { encodeTraceExportRequest } from './otlp-protobuf.js';
import { loadConfig } from './config.js';
import { createTracing } from './tracing.js';

function recorder(service: string) {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': 'i-1', 'msa.replicas': 3, 'msa.ratio': 0.25, 'msa.canary': false }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { exporter, provider };
}

const everyKindOfValue: Attributes = {
  'http.request.method': 'POST',
  'http.response.status_code': 201,
  'msa.negative': -42,
  'msa.large': 2 ** 40,
  'msa.beyond_safe': 2 ** 60,
  'msa.double': 3.25,
  'msa.not_a_number': Number.NaN,
  'msa.flag': true,
  'msa.off': false,
  'msa.empty': '',
  'msa.strings': ['a', 'bé', ''],
  'msa.numbers': [1, -2, 2.5],
  'msa.booleans': [true, false],
  'msa.mixed_holes': ['x', null, undefined] as unknown as string[],
  'msa.non_ascii': 'Größe ✓ 🚚',
  'msa.127_chars': 'x'.repeat(127),
  'msa.128_chars': 'y'.repeat(128),
  'msa.long': 'z'.repeat(20_000),
};

/** Spans as the platform produces them and past its corners: remote parents, links, events, errors, trace state, big values, two resources and scopes. */
function variedSpans(): ReadableSpan[] {
  const orders = recorder('orders');
  const store = recorder('store');
  const tracer = orders.provider.getTracer('msa-poc');
  const other = orders.provider.getTracer('msa-poc-other', '1.2.3');
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true,
    traceState: new TraceState('vendor=value,other=1'),
  });
  const server = tracer.startSpan('POST /orders', { kind: SpanKind.SERVER, attributes: everyKindOfValue }, remote);
  const serverContext = trace.setSpan(remote, server);
  context.with(serverContext, () => {
    const client = tracer.startSpan('POST /orders', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'store' } });
    client.addEvent('retry', { 'error.type': 'ECONNRESET', 'msa.attempt': 1 }, [1_800_000_000, 123_456_789]);
    client.addEvent('no attributes');
    client.setStatus({ code: SpanStatusCode.ERROR, message: 'store answered 503 — ünavailable' });
    client.end();
    const consumer = other.startSpan('process orders.placed', {
      kind: SpanKind.CONSUMER,
      links: [
        { context: server.spanContext(), attributes: { 'messaging.message.id': 'm-1' } },
        { context: { traceId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', spanId: 'bbbbbbbbbbbbbbbb', traceFlags: 0, isRemote: true, traceState: new TraceState('k=v') } },
      ],
      startTime: [1_800_000_000, 999_999_999],
    });
    consumer.setStatus({ code: SpanStatusCode.OK });
    consumer.end([1_800_000_001, 0]);
  });
  server.end();
  const plain = store.provider.getTracer('msa-poc').startSpan('x', { root: true });
  plain.end();
  const internal = store.provider.getTracer('msa-poc').startSpan('outbox relay', { kind: SpanKind.INTERNAL, startTime: new Date(0) });
  internal.end(new Date(1));
  return [...orders.exporter.getFinishedSpans(), ...store.exporter.getFinishedSpans()];
}

const otelBytes = (spans: ReadableSpan[]): Buffer => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array());

test('spans come out as the bytes OpenTelemetry\'s serializer writes, whatever the spans hold', () => {
  const spans = variedSpans();
  assert.ok(spans.length >= 5);
  assert.deepEqual(Buffer.from(encodeTraceExportRequest(spans)), otelBytes(spans));
  // One at a time too: a span's own length then takes one byte instead of the two reserved.
  for (const span of spans) assert.deepEqual(Buffer.from(encodeTraceExportRequest([span])), otelBytes([span]), span.name);
});

test('a batch larger than the last one grows the buffer without losing what was written', () => {
  const spans = variedSpans();
  const small = encodeTraceExportRequest(spans.slice(0, 1));
  const large = Array.from({ length: 40 }, () => spans).flat();
  const encoded = encodeTraceExportRequest(large);
  assert.deepEqual(Buffer.from(encoded), otelBytes(large));
  assert.ok(encoded.length > 40 * 20_000, 'past a megabyte: three bytes of length for the resource spans');
  // An earlier result is not overwritten by a later encoding.
  assert.deepEqual(Buffer.from(small), otelBytes(spans.slice(0, 1)));
});

test('no spans, an empty request', () => {
  assert.equal(encodeTraceExportRequest([]).length, 0);
});

test('times are the spans\' nanoseconds since the epoch, past 2^53', () => {
  const { exporter, provider } = recorder('orders');
  const span = provider.getTracer('msa-poc').startSpan('timed', { startTime: [1_800_000_000, 999_999_999] });
  span.end([4_000_000_000, 1]);
  const body = Buffer.from(encodeTraceExportRequest(exporter.getFinishedSpans()));
  const fixed64 = (nanos: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(nanos); return b; };
  const start = Buffer.concat([Buffer.from([0x39]), fixed64(1_800_000_000n * 1_000_000_000n + 999_999_999n)]);
  const end = Buffer.concat([Buffer.from([0x41]), fixed64(4_000_000_000n * 1_000_000_000n + 1n)]);
  assert.ok(body.includes(start), 'start_time_unix_nano');
  assert.ok(body.includes(end), 'end_time_unix_nano');
});

test('the platform\'s exporter sends the encoder\'s protobuf to the collector', async () => {
  const bodies: { type: string | undefined; body: Buffer }[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  try {
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
    const config = loadConfig({ POC_PROFILE: 'embedded', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint });
    const tracing = createTracing({ service: 'orders', settings: config.tracing });
    const span = tracing.tracer.startSpan('GET /orders/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/orders/:id' } });
    span.end();
    await tracing.flush(5_000);
    await tracing.shutdown();
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0]?.type, 'application/x-protobuf');
    const body = bodies[0]?.body ?? Buffer.alloc(0);
    assert.ok(body.includes(Buffer.from(span.spanContext().traceId, 'hex')), 'the trace id, as bytes');
    assert.ok(body.includes(Buffer.from('GET /orders/:id')) && body.includes(Buffer.from('/orders/:id')));
  } finally {
    collector.close();
  }
});
