import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from 'protobufjs/minimal.js';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { decodeJsonRequest } from './otlp-json.js';
import { decodeProtobufRequest } from './otlp-protobuf.js';
import { acceptSpans, OtlpDecodeError, spanLimits, type Span } from './span.js';
import { encodeTraceExportRequest } from '@msa-poc/platform/otlp-protobuf';
import { orderTrace, toJson, toProtobuf, type OrderTrace } from './testing.js';

/** Plain objects: decoded attributes have no prototype, which deepEqual would otherwise hold against them. */
const plain = (spans: Span[]): unknown => JSON.parse(JSON.stringify(spans));
const kindNames = ['internal', 'server', 'client', 'producer', 'consumer'];

test('spans encoded by the OpenTelemetry SDK decode to the same spans from protobuf and from JSON', () => {
  const trace = orderTrace();
  const fromProtobuf = acceptSpans(decodeProtobufRequest(toProtobuf(trace.spans)));
  const fromJson = acceptSpans(decodeJsonRequest(toJson(trace.spans)));
  assert.equal(fromProtobuf.rejected, 0);
  assert.equal(fromJson.rejected, 0);
  assert.equal(fromProtobuf.spans.length, trace.spans.length);
  assert.deepEqual(plain(fromProtobuf.spans), plain(fromJson.spans));

  // And they are the spans the SDK recorded: ids, parents, names, kinds, services, times, attributes, links, status.
  assertDecodedAsRecorded(fromProtobuf.spans, trace.spans);
  const consumer = fromJson.spans.find((s) => s.spanId === trace.consumerSpanId);
  assert.equal(consumer?.kind, 'consumer');
  assert.equal(consumer?.parentSpanId, trace.producerSpanId, 'the consumer continues the producer\'s context');
  assert.equal(consumer?.links[0]?.spanId, trace.producerSpanId, 'and links to it');
});

test('spans encoded by the platform\'s exporter decode to what the SDK recorded, field by field, as OpenTelemetry\'s own encoding does', () => {
  const trace = orderTrace({ partnerFails: true });
  const reference = acceptSpans(decodeProtobufRequest(toProtobuf(trace.spans)));
  const ours = acceptSpans(decodeProtobufRequest(encodeTraceExportRequest(trace.spans)));
  assert.equal(ours.rejected, 0);
  assert.deepEqual(plain(ours.spans), plain(reference.spans));
  assertDecodedAsRecorded(ours.spans, trace.spans);
});

/** Each span the SDK recorded is among `decoded`, field by field. */
function assertDecodedAsRecorded(decoded: readonly Span[], recorded: OrderTrace['spans']): void {
  for (const sdkSpan of recorded) {
    const context = sdkSpan.spanContext();
    const span = decoded.find((s) => s.spanId === context.spanId);
    assert.ok(span, `span ${sdkSpan.name} decoded`);
    assert.equal(span.traceId, context.traceId);
    assert.equal(span.parentSpanId, sdkSpan.parentSpanContext?.spanId);
    assert.equal(span.name, sdkSpan.name);
    assert.equal(span.kind, kindNames[sdkSpan.kind]);
    assert.equal(span.service, sdkSpan.resource.attributes['service.name']);
    assert.equal(span.startUnixMs, hrTimeToMilliseconds(sdkSpan.startTime));
    assert.ok(Math.abs(span.durationMs - hrTimeToMilliseconds(sdkSpan.duration)) < 0.001, sdkSpan.name);
    assert.deepEqual({ ...span.attributes }, sdkSpan.attributes);
    assert.equal(span.status, sdkSpan.status.code === 2 ? 'error' : 'unset');
    assert.equal(span.statusMessage ?? undefined, sdkSpan.status.message);
    assert.deepEqual(span.links.map((l) => [l.traceId, l.spanId, { ...l.attributes }]), sdkSpan.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes]));
  }
}

test('a failed span keeps its status message', () => {
  const trace = orderTrace({ partnerFails: true });
  const spans = acceptSpans(decodeProtobufRequest(toProtobuf(trace.spans))).spans;
  const partnerCall = spans.find((s) => s.service === 'integration' && s.name === 'POST /fulfilments');
  assert.equal(partnerCall?.status, 'error');
  assert.equal(partnerCall?.statusMessage, 'partner answered 503');
  assert.equal(partnerCall?.attributes['http.response.status_code'], 503);
});

/** A hand-written request with one span, to reach corners the SDK never produces. */
function oneSpanRequest(span: (w: Writer) => void, resource?: (w: Writer) => void): Uint8Array {
  const w = Writer.create();
  w.uint32((1 << 3) | 2).fork(); // resource_spans
  if (resource) {
    w.uint32((1 << 3) | 2).fork();
    resource(w);
    w.ldelim();
  }
  w.uint32((2 << 3) | 2).fork(); // scope_spans
  w.uint32((2 << 3) | 2).fork(); // spans
  span(w);
  w.ldelim().ldelim().ldelim();
  return w.finish();
}

const ids = (w: Writer, trace = 'ab'.repeat(16), span = 'cd'.repeat(8)) => {
  w.uint32((1 << 3) | 2).bytes(Buffer.from(trace, 'hex'));
  w.uint32((2 << 3) | 2).bytes(Buffer.from(span, 'hex'));
  w.uint32((5 << 3) | 2).string('GET /x');
  w.uint32((7 << 3) | 1).fixed64('1700000000000000000' as unknown as number);
  w.uint32((8 << 3) | 1).fixed64('1700000000001500000' as unknown as number);
};

test('protobuf: 64-bit integers, doubles, bytes, nested values and unknown fields', () => {
  const body = oneSpanRequest((w) => {
    ids(w);
    const attribute = (key: string, value: (v: Writer) => void) => {
      w.uint32((9 << 3) | 2).fork().uint32((1 << 3) | 2).string(key).uint32((2 << 3) | 2).fork();
      value(w);
      w.ldelim().ldelim();
    };
    attribute('big', (v) => v.uint32((3 << 3) | 0).int64('9007199254740993' as unknown as number));
    attribute('negative', (v) => v.uint32((3 << 3) | 0).int64(-42));
    attribute('ratio', (v) => v.uint32((4 << 3) | 1).double(0.25));
    attribute('raw', (v) => v.uint32((7 << 3) | 2).bytes(Buffer.from('hi')));
    attribute('list', (v) => v.uint32((5 << 3) | 2).fork().uint32((1 << 3) | 2).fork().uint32((2 << 3) | 0).bool(true).ldelim().ldelim());
    w.uint32((99 << 3) | 2).string('a field from a later version of OTLP');
  });
  const [span] = acceptSpans(decodeProtobufRequest(body)).spans;
  assert.deepEqual(JSON.parse(JSON.stringify(span?.attributes)), { big: '9007199254740993', negative: -42, ratio: 0.25, raw: 'aGk=', list: [true] });
  assert.equal(span?.durationMs, 1.5);
  assert.equal(span?.service, 'unknown_service', 'a resource without service.name');
});

test('protobuf: a truncated body, a wrong wire type or runaway nesting is a decode error that says so', () => {
  const good = toProtobuf(orderTrace().spans);
  assert.throws(() => decodeProtobufRequest(good.subarray(0, good.length - 7)), (error: Error) => error instanceof OtlpDecodeError && /not an OTLP ExportTraceServiceRequest/.test(error.message));
  const wrongWire = oneSpanRequest((w) => w.uint32((5 << 3) | 0).uint32(7));
  assert.throws(() => decodeProtobufRequest(wrongWire), /Span\.name has wire type 0, where opentelemetry-proto declares 2/);
  const deep = oneSpanRequest((w) => {
    ids(w);
    w.uint32((9 << 3) | 2).fork().uint32((1 << 3) | 2).string('deep').uint32((2 << 3) | 2).fork();
    for (let i = 0; i <= spanLimits.nesting + 1; i++) w.uint32((5 << 3) | 2).fork().uint32((1 << 3) | 2).fork();
    for (let i = 0; i <= spanLimits.nesting + 1; i++) w.ldelim().ldelim();
    w.ldelim().ldelim();
  });
  assert.throws(() => decodeProtobufRequest(deep), /nests deeper than 8 levels/);
});

test('spans that no trace could hold are rejected one by one, with the first reason', () => {
  const shortTrace = oneSpanRequest((w) => ids(w, 'ab'.repeat(8)));
  assert.deepEqual(
    { ...acceptSpans(decodeProtobufRequest(shortTrace)), spans: [] },
    { spans: [], rejected: 1, firstRejection: 'resourceSpans[0].scopeSpans[0].spans[0]: traceId must be 16 bytes (32 hex digits), got "abababababababab"' },
  );
  const zeros = oneSpanRequest((w) => ids(w, '00'.repeat(16)));
  assert.match(acceptSpans(decodeProtobufRequest(zeros)).firstRejection ?? '', /traceId is all zeros/);

  const json = (span: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }));
  const valid = { traceId: 'AB'.repeat(16), spanId: 'cd'.repeat(8), name: 'x', kind: 'SPAN_KIND_SERVER', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: 1700000000001000000 };
  const accepted = acceptSpans(decodeJsonRequest(json(valid)));
  assert.equal(accepted.rejected, 0);
  assert.equal(accepted.spans[0]?.traceId, 'ab'.repeat(16), 'hex ids are kept lowercase');
  assert.equal(accepted.spans[0]?.kind, 'server', 'an enum may arrive by name');
  assert.match(acceptSpans(decodeJsonRequest(json({ ...valid, endTimeUnixNano: '1' }))).firstRejection ?? '', /endTimeUnixNano is before startTimeUnixNano/);
  assert.match(acceptSpans(decodeJsonRequest(json({ ...valid, name: '' }))).firstRejection ?? '', /name is empty/);
  assert.match(acceptSpans(decodeJsonRequest(json({ ...valid, spanId: 'zz'.repeat(8) }))).firstRejection ?? '', /spanId must be 8 bytes/);
});

test('JSON of the wrong shape is a decode error naming the path and what was expected', () => {
  const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
  assert.throws(() => decodeJsonRequest(bytes('{"resourceSpans": [')), /the body is not JSON/);
  assert.throws(() => decodeJsonRequest(bytes({ resourceSpans: {} })), /resourceSpans must be an array, found object/);
  assert.throws(() => decodeJsonRequest(bytes({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 7 }] }] }] })), /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name must be a string, found number/);
  assert.throws(() => decodeJsonRequest(bytes({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: '-5' }] }] }] })), /startTimeUnixNano must be an unsigned integer/);
  assert.throws(() => decodeJsonRequest(bytes({ resourceSpans: [{ scopeSpans: [{ spans: [{ kind: 'SERVER' }] }] }] })), /kind must be an integer or one of SPAN_KIND_UNSPECIFIED/);
  assert.deepEqual(decodeJsonRequest(bytes({ resourceSpans: [], somethingNew: true })), [], 'unknown fields are ignored');
});

test('one span cannot hold more than the limits: attributes, long strings', () => {
  const attributes = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: { stringValue: i === 0 ? 'x'.repeat(10_000) : 'v' } }));
  const body = new TextEncoder().encode(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
    traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name: 'x', startTimeUnixNano: '1', endTimeUnixNano: '2', attributes,
  }] }] }] }));
  const [span] = acceptSpans(decodeJsonRequest(body)).spans;
  assert.equal(Object.keys(span?.attributes ?? {}).length, spanLimits.attributes);
  assert.equal((span?.attributes.k0 as string).length, spanLimits.stringLength + 1);
  assert.ok((span?.attributes.k0 as string).endsWith('…'));
});
