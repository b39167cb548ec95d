/**
 * OTLP/HTTP in JSON: the protobuf messages in their JSON mapping, as the OTLP specification narrows
 * it (lowerCamelCase fields, trace and span ids as hex, enums as integers; 64-bit integers as
 * decimal strings or numbers). Unknown fields are ignored, as the specification requires; a field
 * of the wrong type makes the whole request unreadable, with its path in the message.
 */
import { OtlpDecodeError, spanLimits, type AttributeValue, type RawKeyValue, type RawResourceSpans, type RawSpan } from './span.js';

type Json = Record<string, unknown>;

const fail = (path: string, wanted: string, found: unknown): never => {
  const seen = found === null ? 'null' : Array.isArray(found) ? 'an array' : typeof found;
  throw new OtlpDecodeError(`${path} must be ${wanted}, found ${seen}`);
};

function object(value: unknown, path: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(path, 'an object', value);
  return value as Json;
}

/** A repeated field: absent means empty. */
function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail(path, 'an array', value);
  return value;
}

function text(value: unknown, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') return fail(path, 'a string', value);
  return value;
}

/** An unsigned 64-bit integer: decimal text, or a JSON number (which loses precision past 2^53). */
function uint64(value: unknown, path: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  return fail(path, 'an unsigned integer (decimal string or number)', value);
}

/** An enum: its number, or its name as protobuf's JSON mapping also allows. */
function enumeration(value: unknown, path: string, names: readonly string[]): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && names.includes(value)) return names.indexOf(value);
  return fail(path, `an integer or one of ${names.join(', ')}`, value);
}

const spanKindNames = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const statusCodeNames = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function anyValue(value: unknown, path: string, depth: number): AttributeValue {
  if (depth > spanLimits.nesting) throw new OtlpDecodeError(`${path} nests deeper than ${spanLimits.nesting} levels`);
  if (value === undefined || value === null) return null;
  const any = object(value, path);
  if ('stringValue' in any) return text(any.stringValue, `${path}.stringValue`);
  if ('boolValue' in any) return typeof any.boolValue === 'boolean' ? any.boolValue : fail(`${path}.boolValue`, 'a boolean', any.boolValue);
  if ('intValue' in any) {
    const int = any.intValue;
    if (typeof int === 'number' && Number.isInteger(int)) return int;
    if (typeof int === 'string' && /^-?\d{1,19}$/.test(int)) {
      const big = BigInt(int);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
    }
    return fail(`${path}.intValue`, 'an integer (decimal string or number)', int);
  }
  if ('doubleValue' in any) {
    const double = any.doubleValue;
    if (typeof double === 'number') return double;
    // The JSON mapping writes the values JSON cannot hold as strings.
    if (double === 'NaN' || double === 'Infinity' || double === '-Infinity') return double;
    return fail(`${path}.doubleValue`, 'a number', double);
  }
  if ('arrayValue' in any) {
    const array = object(any.arrayValue, `${path}.arrayValue`);
    return list(array.values, `${path}.arrayValue.values`).map((item, i) => anyValue(item, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if ('kvlistValue' in any) {
    const kvlist = object(any.kvlistValue, `${path}.kvlistValue`);
    const entries = Object.create(null) as Record<string, AttributeValue>;
    list(kvlist.values, `${path}.kvlistValue.values`).forEach((pair, i) => {
      const kv = keyValue(pair, `${path}.kvlistValue.values[${i}]`, depth + 1);
      entries[kv.key] = kv.value;
    });
    return entries;
  }
  if ('bytesValue' in any) {
    const bytes = text(any.bytesValue, `${path}.bytesValue`);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(bytes)) return fail(`${path}.bytesValue`, 'base64 text', bytes);
    return bytes;
  }
  return null;
}

function keyValue(value: unknown, path: string, depth = 0): RawKeyValue {
  const kv = object(value, path);
  return { key: text(kv.key, `${path}.key`), value: anyValue(kv.value, `${path}.value`, depth) };
}

const keyValues = (value: unknown, path: string): RawKeyValue[] => list(value, path).map((kv, i) => keyValue(kv, `${path}[${i}]`));

/** Ids arrive as hex; case is not significant, so they are kept lowercase. */
const id = (value: unknown, path: string): string => text(value, path).toLowerCase();

function span(value: unknown, where: string): RawSpan {
  const s = object(value, where);
  const status = s.status === undefined || s.status === null ? {} : object(s.status, `${where}.status`);
  return {
    where,
    traceId: id(s.traceId, `${where}.traceId`),
    spanId: id(s.spanId, `${where}.spanId`),
    parentSpanId: id(s.parentSpanId, `${where}.parentSpanId`),
    name: text(s.name, `${where}.name`),
    kind: enumeration(s.kind, `${where}.kind`, spanKindNames),
    startTimeUnixNano: uint64(s.startTimeUnixNano, `${where}.startTimeUnixNano`),
    endTimeUnixNano: uint64(s.endTimeUnixNano, `${where}.endTimeUnixNano`),
    attributes: keyValues(s.attributes, `${where}.attributes`),
    events: list(s.events, `${where}.events`).map((event, i) => {
      const e = object(event, `${where}.events[${i}]`);
      return { timeUnixNano: uint64(e.timeUnixNano, `${where}.events[${i}].timeUnixNano`), name: text(e.name, `${where}.events[${i}].name`), attributes: keyValues(e.attributes, `${where}.events[${i}].attributes`) };
    }),
    links: list(s.links, `${where}.links`).map((link, i) => {
      const l = object(link, `${where}.links[${i}]`);
      return { traceId: id(l.traceId, `${where}.links[${i}].traceId`), spanId: id(l.spanId, `${where}.links[${i}].spanId`), attributes: keyValues(l.attributes, `${where}.links[${i}].attributes`) };
    }),
    status: { code: enumeration(status.code, `${where}.status.code`, statusCodeNames), message: text(status.message, `${where}.status.message`) },
  };
}

/** Decodes an ExportTraceServiceRequest in JSON; throws OtlpDecodeError, with the path of the first problem. */
export function decodeJsonRequest(body: Uint8Array): RawResourceSpans[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (error) {
    throw new OtlpDecodeError(`the body is not JSON: ${(error as Error).message}`);
  }
  const request = object(parsed, 'the request');
  return list(request.resourceSpans, 'resourceSpans').map((entry, r) => {
    const where = `resourceSpans[${r}]`;
    const resourceSpans = object(entry, where);
    const resource = resourceSpans.resource === undefined || resourceSpans.resource === null ? {} : object(resourceSpans.resource, `${where}.resource`);
    const spans = list(resourceSpans.scopeSpans, `${where}.scopeSpans`).flatMap((scope, s) => {
      const scopeWhere = `${where}.scopeSpans[${s}]`;
      return list(object(scope, scopeWhere).spans, `${scopeWhere}.spans`).map((item, i) => span(item, `${scopeWhere}.spans[${i}]`));
    });
    return { resourceAttributes: keyValues(resource.attributes, `${where}.resource.attributes`), spans };
  });
}

export function encodeJsonResponse(rejected: number, message: string | undefined): string {
  // int64 in protobuf's JSON mapping is a decimal string.
  return JSON.stringify(rejected > 0 ? { partialSuccess: { rejectedSpans: String(rejected), ...(message ? { errorMessage: message } : {}) } } : {});
}

export function encodeJsonStatus(code: number, message: string): string {
  return JSON.stringify({ code, message });
}
