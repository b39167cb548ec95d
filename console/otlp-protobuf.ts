/**
 * OTLP/HTTP in protobuf: decodes an ExportTraceServiceRequest and encodes the two answers, with
 * protobufjs's minimal reader and writer and the field numbers of opentelemetry-proto
 * (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto, collector/trace/v1/trace_service.proto).
 * No maintained package decodes OTLP requests for Node (the OpenTelemetry transformer only encodes),
 * so the wire format is read here, field by field; unknown fields are skipped, as proto3 requires.
 */
import { Reader, Writer } from 'protobufjs/minimal.js';
import { OtlpDecodeError, spanLimits, type AttributeValue, type RawKeyValue, type RawResourceSpans, type RawSpan } from './span.js';

const wire = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** Reads the fields of one message that ends at `end`, handing each to `field`; what it leaves unread is skipped. */
function readFields(reader: Reader, end: number, field: (number: number, wireType: number) => boolean): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 0) throw new OtlpDecodeError('field number 0 does not exist in protobuf');
    if (!field(number, wireType)) reader.skipType(wireType);
  }
  if (reader.pos !== end) throw new OtlpDecodeError('a nested message runs past the end of its parent');
}

/** The end offset of the length-delimited field the reader stands on. */
function nestedEnd(reader: Reader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) throw new OtlpDecodeError('a length-delimited field runs past the end of the body');
  return end;
}

function expect(wireType: number, wanted: number, what: string): void {
  if (wireType !== wanted) throw new OtlpDecodeError(`${what} has wire type ${wireType}, where opentelemetry-proto declares ${wanted}`);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** A fixed64 as an unsigned bigint, without going through the optional Long class. */
function fixed64(reader: Reader): bigint {
  const low = reader.fixed32();
  const high = reader.fixed32();
  return (BigInt(high) << 32n) | BigInt(low);
}

/** An int64 varint as a JSON number when it fits one exactly, otherwise as its decimal text. */
function int64(reader: Reader): number | string {
  const value = reader.int64() as unknown;
  let big: bigint;
  if (typeof value === 'number') big = BigInt(value);
  else {
    const { low, high } = value as { low: number; high: number };
    big = BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));
  }
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

function anyValue(reader: Reader, end: number, depth: number): AttributeValue {
  if (depth > spanLimits.nesting) throw new OtlpDecodeError(`an attribute value nests deeper than ${spanLimits.nesting} levels`);
  let value: AttributeValue = null;
  readFields(reader, end, (number, wireType) => {
    switch (number) {
      case 1: expect(wireType, wire.bytes, 'AnyValue.string_value'); value = reader.string(); return true;
      case 2: expect(wireType, wire.varint, 'AnyValue.bool_value'); value = reader.bool(); return true;
      case 3: expect(wireType, wire.varint, 'AnyValue.int_value'); value = int64(reader); return true;
      case 4: {
        expect(wireType, wire.fixed64, 'AnyValue.double_value');
        const double = reader.double();
        // JSON has no NaN or Infinity: keep them as text rather than lose them.
        value = Number.isFinite(double) ? double : String(double);
        return true;
      }
      case 5: {
        expect(wireType, wire.bytes, 'AnyValue.array_value');
        const arrayEnd = nestedEnd(reader);
        const values: AttributeValue[] = [];
        readFields(reader, arrayEnd, (inner, innerWire) => {
          if (inner !== 1) return false;
          expect(innerWire, wire.bytes, 'ArrayValue.values');
          values.push(anyValue(reader, nestedEnd(reader), depth + 1));
          return true;
        });
        value = values;
        return true;
      }
      case 6: {
        expect(wireType, wire.bytes, 'AnyValue.kvlist_value');
        const listEnd = nestedEnd(reader);
        const entries = Object.create(null) as Record<string, AttributeValue>;
        readFields(reader, listEnd, (inner, innerWire) => {
          if (inner !== 1) return false;
          expect(innerWire, wire.bytes, 'KeyValueList.values');
          const pair = keyValue(reader, nestedEnd(reader), depth + 1);
          entries[pair.key] = pair.value;
          return true;
        });
        value = entries;
        return true;
      }
      case 7: expect(wireType, wire.bytes, 'AnyValue.bytes_value'); value = Buffer.from(reader.bytes()).toString('base64'); return true;
      default: return false;
    }
  });
  return value;
}

function keyValue(reader: Reader, end: number, depth = 0): RawKeyValue {
  let key = '';
  let value: AttributeValue = null;
  readFields(reader, end, (number, wireType) => {
    if (number === 1) {
      expect(wireType, wire.bytes, 'KeyValue.key');
      key = reader.string();
      return true;
    }
    if (number === 2) {
      expect(wireType, wire.bytes, 'KeyValue.value');
      value = anyValue(reader, nestedEnd(reader), depth);
      return true;
    }
    return false;
  });
  return { key, value };
}

/** Reads a repeated KeyValue field occurrence into `into`. */
function pushKeyValue(reader: Reader, wireType: number, what: string, into: RawKeyValue[]): true {
  expect(wireType, wire.bytes, what);
  into.push(keyValue(reader, nestedEnd(reader)));
  return true;
}

function bytesField(reader: Reader, wireType: number, what: string): string {
  expect(wireType, wire.bytes, what);
  return hex(reader.bytes());
}

function span(reader: Reader, end: number, where: string): RawSpan {
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let name = '';
  let kind = 0;
  let startTimeUnixNano = 0n;
  let endTimeUnixNano = 0n;
  const attributes: RawKeyValue[] = [];
  const events: RawSpan['events'][number][] = [];
  const links: RawSpan['links'][number][] = [];
  let status = { code: 0, message: '' };
  readFields(reader, end, (number, wireType) => {
    switch (number) {
      case 1: traceId = bytesField(reader, wireType, 'Span.trace_id'); return true;
      case 2: spanId = bytesField(reader, wireType, 'Span.span_id'); return true;
      case 4: parentSpanId = bytesField(reader, wireType, 'Span.parent_span_id'); return true;
      case 5: expect(wireType, wire.bytes, 'Span.name'); name = reader.string(); return true;
      case 6: expect(wireType, wire.varint, 'Span.kind'); kind = reader.int32(); return true;
      case 7: expect(wireType, wire.fixed64, 'Span.start_time_unix_nano'); startTimeUnixNano = fixed64(reader); return true;
      case 8: expect(wireType, wire.fixed64, 'Span.end_time_unix_nano'); endTimeUnixNano = fixed64(reader); return true;
      case 9: return pushKeyValue(reader, wireType, 'Span.attributes', attributes);
      case 11: {
        expect(wireType, wire.bytes, 'Span.events');
        const eventEnd = nestedEnd(reader);
        const event = { timeUnixNano: 0n, name: '', attributes: [] as RawKeyValue[] };
        readFields(reader, eventEnd, (inner, innerWire) => {
          if (inner === 1) { expect(innerWire, wire.fixed64, 'Event.time_unix_nano'); event.timeUnixNano = fixed64(reader); return true; }
          if (inner === 2) { expect(innerWire, wire.bytes, 'Event.name'); event.name = reader.string(); return true; }
          if (inner === 3) return pushKeyValue(reader, innerWire, 'Event.attributes', event.attributes);
          return false;
        });
        events.push(event);
        return true;
      }
      case 13: {
        expect(wireType, wire.bytes, 'Span.links');
        const linkEnd = nestedEnd(reader);
        const link = { traceId: '', spanId: '', attributes: [] as RawKeyValue[] };
        readFields(reader, linkEnd, (inner, innerWire) => {
          if (inner === 1) { link.traceId = bytesField(reader, innerWire, 'Link.trace_id'); return true; }
          if (inner === 2) { link.spanId = bytesField(reader, innerWire, 'Link.span_id'); return true; }
          if (inner === 4) return pushKeyValue(reader, innerWire, 'Link.attributes', link.attributes);
          return false;
        });
        links.push(link);
        return true;
      }
      case 15: {
        expect(wireType, wire.bytes, 'Span.status');
        const statusEnd = nestedEnd(reader);
        const read = { code: 0, message: '' };
        readFields(reader, statusEnd, (inner, innerWire) => {
          if (inner === 2) { expect(innerWire, wire.bytes, 'Status.message'); read.message = reader.string(); return true; }
          if (inner === 3) { expect(innerWire, wire.varint, 'Status.code'); read.code = reader.int32(); return true; }
          return false;
        });
        status = read;
        return true;
      }
      default: return false;
    }
  });
  return { where, traceId, spanId, parentSpanId, name, kind, startTimeUnixNano, endTimeUnixNano, attributes, events, links, status };
}

function resourceSpans(reader: Reader, end: number, where: string): RawResourceSpans {
  const resourceAttributes: RawKeyValue[] = [];
  const spans: RawSpan[] = [];
  let scopeIndex = 0;
  readFields(reader, end, (number, wireType) => {
    if (number === 1) {
      expect(wireType, wire.bytes, 'ResourceSpans.resource');
      readFields(reader, nestedEnd(reader), (inner, innerWire) => (inner === 1 ? pushKeyValue(reader, innerWire, 'Resource.attributes', resourceAttributes) : false));
      return true;
    }
    if (number === 2) {
      expect(wireType, wire.bytes, 'ResourceSpans.scope_spans');
      const scopeWhere = `${where}.scopeSpans[${scopeIndex++}]`;
      let spanIndex = 0;
      readFields(reader, nestedEnd(reader), (inner, innerWire) => {
        if (inner !== 2) return false;
        expect(innerWire, wire.bytes, 'ScopeSpans.spans');
        spans.push(span(reader, nestedEnd(reader), `${scopeWhere}.spans[${spanIndex++}]`));
        return true;
      });
      return true;
    }
    return false;
  });
  return { resourceAttributes, spans };
}

/** Decodes an ExportTraceServiceRequest; throws OtlpDecodeError, saying what is wrong, when the bytes are not one. */
export function decodeProtobufRequest(body: Uint8Array): RawResourceSpans[] {
  const reader = Reader.create(body);
  const resources: RawResourceSpans[] = [];
  try {
    readFields(reader, reader.len, (number, wireType) => {
      if (number !== 1) return false;
      expect(wireType, wire.bytes, 'ExportTraceServiceRequest.resource_spans');
      resources.push(resourceSpans(reader, nestedEnd(reader), `resourceSpans[${resources.length}]`));
      return true;
    });
  } catch (error) {
    if (error instanceof OtlpDecodeError) throw new OtlpDecodeError(`the body is not an OTLP ExportTraceServiceRequest: ${error.message}`);
    // protobufjs throws RangeError (and Error for unknown wire types) on truncated or garbled input.
    throw new OtlpDecodeError(`the body is not an OTLP ExportTraceServiceRequest in protobuf: ${(error as Error).message} at byte ${reader.pos}`);
  }
  return resources;
}

/** ExportTraceServiceResponse: empty when everything was accepted, else partial_success {rejected_spans, error_message}. */
export function encodeProtobufResponse(rejected: number, message: string | undefined): Uint8Array {
  const writer = Writer.create();
  if (rejected > 0) {
    writer.uint32((1 << 3) | wire.bytes).fork();
    writer.uint32((1 << 3) | wire.varint).int64(rejected);
    if (message) writer.uint32((2 << 3) | wire.bytes).string(message);
    writer.ldelim();
  }
  return writer.finish();
}

/** google.rpc.Status {code, message}: the body of an OTLP error answer. */
export function encodeProtobufStatus(code: number, message: string): Uint8Array {
  return Writer.create().uint32((1 << 3) | wire.varint).int32(code).uint32((2 << 3) | wire.bytes).string(message).finish();
}
