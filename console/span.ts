/**
 * The console's span: what it keeps of an OTLP span. Ids are lowercase hex, times are epoch
 * milliseconds with microsecond precision, attribute values are plain JSON. Both OTLP encodings
 * decode to the same raw shape, and `acceptSpans` turns that into spans, refusing the ones that
 * no trace could hold and bounding what one span may cost in memory.
 */

export const spanKinds = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
export type SpanKind = (typeof spanKinds)[number];
export type SpanStatus = 'unset' | 'ok' | 'error';

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface SpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Attributes;
}

export interface SpanEvent {
  readonly name: string;
  readonly atUnixMs: number;
  readonly attributes: Attributes;
}

export interface Span {
  readonly traceId: string;
  readonly spanId: string;
  /** Absent on a trace's root span. */
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: SpanKind;
  /** `service.name` of the resource that produced the span. */
  readonly service: string;
  readonly startUnixMs: number;
  readonly durationMs: number;
  readonly status: SpanStatus;
  readonly statusMessage?: string;
  readonly attributes: Attributes;
  readonly events: readonly SpanEvent[];
  readonly links: readonly SpanLink[];
}

/** What one span may hold at most; the OpenTelemetry SDKs default to the same 128 attributes. */
export const spanLimits = {
  attributes: 128,
  events: 128,
  links: 128,
  /** Longer strings are cut: a stack trace in an exception event stays readable, a megabyte does not stay. */
  stringLength: 4096,
  /** Arrays and key-value lists inside attribute values. */
  nesting: 8,
} as const;

// --- the raw shape both decoders produce ---------------------------------------------------------

export interface RawKeyValue {
  readonly key: string;
  readonly value: AttributeValue;
}

export interface RawSpan {
  /** Where the span sits in the request, for messages: `resourceSpans[0].scopeSpans[1].spans[2]`. */
  readonly where: string;
  /** Hex as received: protobuf bytes are hex-encoded by the decoder, JSON carries hex already. */
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: readonly RawKeyValue[];
  readonly events: readonly { readonly timeUnixNano: bigint; readonly name: string; readonly attributes: readonly RawKeyValue[] }[];
  readonly links: readonly { readonly traceId: string; readonly spanId: string; readonly attributes: readonly RawKeyValue[] }[];
  readonly status: { readonly code: number; readonly message: string };
}

export interface RawResourceSpans {
  readonly resourceAttributes: readonly RawKeyValue[];
  readonly spans: readonly RawSpan[];
}

/** A request the decoder could not read at all: answered with 400 and this message. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}

export interface Acceptance {
  readonly spans: Span[];
  readonly rejected: number;
  /** Why the first rejected span was refused, for the partial-success message. */
  readonly firstRejection?: string;
}

const traceIdPattern = /^[0-9a-f]{32}$/;
const spanIdPattern = /^[0-9a-f]{16}$/;
const allZero = /^0+$/;

/** Turns decoded resource spans into spans, refusing each span that breaks a rule a trace relies on. */
export function acceptSpans(resources: readonly RawResourceSpans[]): Acceptance {
  const spans: Span[] = [];
  let rejected = 0;
  let firstRejection: string | undefined;
  for (const resource of resources) {
    const serviceName = resource.resourceAttributes.find((kv) => kv.key === 'service.name')?.value;
    // The specification's own fallback for a resource without a name.
    const service = typeof serviceName === 'string' && serviceName !== '' ? serviceName : 'unknown_service';
    for (const raw of resource.spans) {
      const problem = spanProblem(raw);
      if (problem) {
        rejected += 1;
        firstRejection ??= `${raw.where}: ${problem}`;
        continue;
      }
      spans.push(toSpan(raw, service));
    }
  }
  return { spans, rejected, ...(firstRejection ? { firstRejection } : {}) };
}

function idProblem(label: string, value: string, pattern: RegExp, bytes: number): string | undefined {
  if (!pattern.test(value)) return `${label} must be ${bytes} bytes (${bytes * 2} hex digits), got "${value.slice(0, 40)}"`;
  if (allZero.test(value)) return `${label} is all zeros, which marks an invalid id`;
  return undefined;
}

function spanProblem(raw: RawSpan): string | undefined {
  const problem = idProblem('traceId', raw.traceId, traceIdPattern, 16)
    ?? idProblem('spanId', raw.spanId, spanIdPattern, 8)
    ?? (raw.parentSpanId === '' ? undefined : idProblem('parentSpanId', raw.parentSpanId, spanIdPattern, 8));
  if (problem) return problem;
  if (raw.name === '') return 'name is empty';
  if (raw.startTimeUnixNano <= 0n) return 'startTimeUnixNano is missing';
  if (raw.endTimeUnixNano < raw.startTimeUnixNano) return 'endTimeUnixNano is before startTimeUnixNano';
  for (const link of raw.links) {
    const linkProblem = idProblem('a link\'s traceId', link.traceId, traceIdPattern, 16) ?? idProblem('a link\'s spanId', link.spanId, spanIdPattern, 8);
    if (linkProblem) return linkProblem;
  }
  return undefined;
}

/** Nanoseconds since the epoch as milliseconds, keeping microseconds (a double holds them exactly). */
export const nanosToMillis = (nanos: bigint): number => Number(nanos / 1000n) / 1000;

function toSpan(raw: RawSpan, service: string): Span {
  const startUnixMs = nanosToMillis(raw.startTimeUnixNano);
  const statusMessage = raw.status.message === '' ? undefined : bounded(raw.status.message);
  return {
    traceId: raw.traceId,
    spanId: raw.spanId,
    ...(raw.parentSpanId === '' || allZero.test(raw.parentSpanId) ? {} : { parentSpanId: raw.parentSpanId }),
    name: bounded(raw.name),
    kind: spanKinds[raw.kind] ?? 'unspecified',
    service,
    startUnixMs,
    durationMs: nanosToMillis(raw.endTimeUnixNano) - startUnixMs,
    status: raw.status.code === 2 ? 'error' : raw.status.code === 1 ? 'ok' : 'unset',
    ...(statusMessage ? { statusMessage } : {}),
    attributes: attributesOf(raw.attributes),
    events: raw.events.slice(0, spanLimits.events).map((event) => ({ name: bounded(event.name), atUnixMs: nanosToMillis(event.timeUnixNano), attributes: attributesOf(event.attributes) })),
    links: raw.links.slice(0, spanLimits.links).map((link) => ({ traceId: link.traceId, spanId: link.spanId, attributes: attributesOf(link.attributes) })),
  };
}

const bounded = (text: string): string => (text.length > spanLimits.stringLength ? `${text.slice(0, spanLimits.stringLength)}…` : text);

function attributesOf(pairs: readonly RawKeyValue[]): Attributes {
  // A null prototype: a key named __proto__ is data here, never the object's prototype.
  const attributes = Object.create(null) as Attributes;
  let kept = 0;
  for (const { key, value } of pairs) {
    if (kept >= spanLimits.attributes) break;
    if (!(key in attributes)) kept += 1;
    attributes[bounded(key)] = boundedValue(value);
  }
  return attributes;
}

function boundedValue(value: AttributeValue): AttributeValue {
  if (typeof value === 'string') return bounded(value);
  if (Array.isArray(value)) return value.slice(0, spanLimits.attributes).map(boundedValue);
  if (value !== null && typeof value === 'object') {
    const nested = Object.create(null) as Attributes;
    for (const [key, inner] of Object.entries(value).slice(0, spanLimits.attributes)) nested[bounded(key)] = boundedValue(inner);
    return nested;
  }
  return value;
}

/** An attribute as a string, when it is one. */
export function stringAttribute(span: Span, key: string): string | undefined {
  const value = span.attributes[key];
  return typeof value === 'string' ? value : undefined;
}

/** An integer attribute (OTLP int64 values arrive as numbers, or as strings beyond 2^53). */
export function integerAttribute(span: Span, key: string): number | undefined {
  const value = span.attributes[key];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}
