/**
 * The recent traces, in memory and bounded: at most `maxSpans` spans, none received longer ago than
 * `maxAgeMs`. Whole traces go, least recently active first, so a trace on screen is never missing
 * its middle; what was dropped is counted. Indexed by trace id and by request id; the other
 * searches scan per-trace summaries, which is cheap at this size.
 */
import { integerAttribute, stringAttribute, type Attributes, type Span } from './span.js';

export interface SpanStoreLimits {
  readonly maxSpans: number;
  readonly maxAgeMs: number;
}

export const defaultSpanStoreLimits: SpanStoreLimits = { maxSpans: 50_000, maxAgeMs: 15 * 60_000 };

interface StoredTrace {
  readonly traceId: string;
  readonly spans: Span[];
  readonly spanIds: Set<string>;
  readonly services: Set<string>;
  readonly routes: Set<string>;
  /** http.response.status_code of the trace's server spans: the answers its requests got. */
  readonly statusCodes: Set<number>;
  readonly requestIds: Set<string>;
  errorSpans: number;
  startUnixMs: number;
  endUnixMs: number;
  lastReceivedMs: number;
}

export interface TraceQuery {
  readonly traceId?: string;
  readonly requestId?: string;
  /** Part of an `http.route`, any case. */
  readonly route?: string;
  /** An HTTP status (`409`), a class (`5xx`), `error` (a span failed) or `ok` (none did). */
  readonly status?: string;
  readonly service?: string;
  readonly limit: number;
}

export interface TraceSummary {
  readonly traceId: string;
  /** The root span's name, or the earliest span's while the root has not arrived. */
  readonly name: string;
  readonly service: string;
  readonly startUnixMs: number;
  readonly durationMs: number;
  readonly spanCount: number;
  readonly services: string[];
  readonly errorCount: number;
  readonly statusCode?: number;
  readonly requestId?: string;
}

export interface WaterfallLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Attributes;
  /** The linked span, when the console holds it. */
  readonly target?: { readonly service: string; readonly name: string; readonly sameTrace: boolean };
}

/** A span as the waterfall shows it: the stored span, placed in its trace, its links resolved. */
export interface WaterfallSpan extends Omit<Span, 'traceId' | 'links'> {
  /** Nesting in the waterfall: 0 for roots, and for spans whose parent has not arrived. */
  readonly depth: number;
  /** From the start of the trace. */
  readonly offsetMs: number;
  readonly links: readonly WaterfallLink[];
}

export interface TraceDetail {
  readonly traceId: string;
  readonly startUnixMs: number;
  readonly durationMs: number;
  /** In waterfall order: each span after its parent, siblings by start time. */
  readonly spans: WaterfallSpan[];
}

export interface SpanStoreStats {
  readonly traces: number;
  readonly spans: number;
  readonly limits: SpanStoreLimits;
  /** Traces (and their spans) dropped to stay within the limits. */
  readonly evictedTraces: number;
  readonly evictedSpans: number;
  /** Spans received again (an exporter retrying a batch): kept once. */
  readonly duplicateSpans: number;
}

export class SpanStore {
  readonly limits: SpanStoreLimits;
  /** Least recently active first: Map iteration follows insertion, and activity re-inserts. */
  readonly #traces = new Map<string, StoredTrace>();
  readonly #tracesByRequestId = new Map<string, Set<string>>();
  #spanCount = 0;
  #evictedTraces = 0;
  #evictedSpans = 0;
  #duplicateSpans = 0;

  constructor(limits: SpanStoreLimits = defaultSpanStoreLimits) {
    if (!(limits.maxSpans >= 1) || !(limits.maxAgeMs >= 1)) throw new RangeError(`span store limits must be positive: ${JSON.stringify(limits)}`);
    this.limits = limits;
  }

  /** Keeps the spans; answers those it had not seen before (a retried batch repeats spans). */
  add(spans: readonly Span[], now = Date.now()): Span[] {
    const added: Span[] = [];
    for (const span of spans) {
      let stored = this.#traces.get(span.traceId);
      if (stored?.spanIds.has(span.spanId)) {
        this.#duplicateSpans += 1;
        continue;
      }
      if (stored) {
        this.#traces.delete(span.traceId);
      } else {
        stored = {
          traceId: span.traceId, spans: [], spanIds: new Set(), services: new Set(), routes: new Set(), statusCodes: new Set(), requestIds: new Set(),
          errorSpans: 0, startUnixMs: span.startUnixMs, endUnixMs: span.startUnixMs + span.durationMs, lastReceivedMs: now,
        };
      }
      this.#traces.set(span.traceId, stored);
      this.#index(stored, span, now);
      added.push(span);
    }
    this.#evict(now);
    return added;
  }

  #index(stored: StoredTrace, span: Span, now: number): void {
    stored.spans.push(span);
    stored.spanIds.add(span.spanId);
    stored.services.add(span.service);
    stored.startUnixMs = Math.min(stored.startUnixMs, span.startUnixMs);
    stored.endUnixMs = Math.max(stored.endUnixMs, span.startUnixMs + span.durationMs);
    stored.lastReceivedMs = now;
    if (span.status === 'error') stored.errorSpans += 1;
    const route = stringAttribute(span, 'http.route');
    if (route) stored.routes.add(route);
    const statusCode = integerAttribute(span, 'http.response.status_code');
    if (span.kind === 'server' && statusCode !== undefined) stored.statusCodes.add(statusCode);
    const requestId = stringAttribute(span, 'msa.request_id');
    if (requestId && !stored.requestIds.has(requestId)) {
      stored.requestIds.add(requestId);
      let traces = this.#tracesByRequestId.get(requestId);
      if (!traces) this.#tracesByRequestId.set(requestId, (traces = new Set()));
      traces.add(stored.traceId);
    }
    this.#spanCount += 1;
  }

  #evict(now: number): void {
    const oldestAllowed = now - this.limits.maxAgeMs;
    for (const stored of this.#traces.values()) {
      if (stored.lastReceivedMs >= oldestAllowed && this.#spanCount <= this.limits.maxSpans) break;
      this.#drop(stored);
    }
  }

  #drop(stored: StoredTrace): void {
    this.#traces.delete(stored.traceId);
    for (const requestId of stored.requestIds) {
      const traces = this.#tracesByRequestId.get(requestId);
      traces?.delete(stored.traceId);
      if (traces?.size === 0) this.#tracesByRequestId.delete(requestId);
    }
    this.#spanCount -= stored.spans.length;
    this.#evictedTraces += 1;
    this.#evictedSpans += stored.spans.length;
  }

  /** One span, when held: the traffic window asks who produced the span a consumer links to. */
  span(traceId: string, spanId: string): Span | undefined {
    const stored = this.#traces.get(traceId);
    return stored?.spanIds.has(spanId) ? stored.spans.find((s) => s.spanId === spanId) : undefined;
  }

  /** The newest traces that match every given criterion, newest first. */
  search(query: TraceQuery, now = Date.now()): TraceSummary[] {
    this.#evict(now);
    let candidates: Iterable<StoredTrace>;
    if (query.traceId !== undefined) {
      const stored = this.#traces.get(query.traceId.toLowerCase());
      candidates = stored ? [stored] : [];
    } else if (query.requestId !== undefined) {
      candidates = [...(this.#tracesByRequestId.get(query.requestId) ?? [])].map((id) => this.#traces.get(id)).filter((t): t is StoredTrace => t !== undefined);
    } else {
      candidates = this.#traces.values();
    }
    const matchesStatus = statusMatcher(query.status);
    const route = query.route?.toLowerCase();
    const matches: StoredTrace[] = [];
    for (const stored of candidates) {
      if (query.service !== undefined && !stored.services.has(query.service)) continue;
      if (route !== undefined && ![...stored.routes].some((r) => r.toLowerCase().includes(route))) continue;
      if (!matchesStatus(stored)) continue;
      matches.push(stored);
    }
    return matches.sort((a, b) => b.startUnixMs - a.startUnixMs).slice(0, query.limit).map(summaryOf);
  }

  /** A trace as a waterfall, or undefined when the console does not hold it (any more, or yet). */
  trace(traceId: string, now = Date.now()): TraceDetail | undefined {
    this.#evict(now);
    const stored = this.#traces.get(traceId.toLowerCase());
    if (!stored) return undefined;
    return {
      traceId: stored.traceId,
      startUnixMs: stored.startUnixMs,
      durationMs: stored.endUnixMs - stored.startUnixMs,
      spans: waterfallOrder(stored.spans).map(({ span, depth }) => ({
        spanId: span.spanId,
        ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
        name: span.name,
        kind: span.kind,
        service: span.service,
        depth,
        startUnixMs: span.startUnixMs,
        offsetMs: span.startUnixMs - stored.startUnixMs,
        durationMs: span.durationMs,
        status: span.status,
        ...(span.statusMessage ? { statusMessage: span.statusMessage } : {}),
        attributes: span.attributes,
        events: span.events,
        links: span.links.map((link) => {
          const target = this.span(link.traceId, link.spanId);
          return { ...link, ...(target ? { target: { service: target.service, name: target.name, sameTrace: link.traceId === stored.traceId } } : {}) };
        }),
      })),
    };
  }

  stats(now = Date.now()): SpanStoreStats {
    this.#evict(now);
    return {
      traces: this.#traces.size, spans: this.#spanCount, limits: this.limits,
      evictedTraces: this.#evictedTraces, evictedSpans: this.#evictedSpans, duplicateSpans: this.#duplicateSpans,
    };
  }
}

function statusMatcher(status: string | undefined): (trace: StoredTrace) => boolean {
  if (status === undefined) return () => true;
  if (status === 'error') return (t) => t.errorSpans > 0;
  if (status === 'ok') return (t) => t.errorSpans === 0;
  const statusClass = /^([1-5])xx$/.exec(status);
  if (statusClass) return (t) => [...t.statusCodes].some((code) => Math.floor(code / 100) === Number(statusClass[1]));
  const code = Number(status);
  return (t) => t.statusCodes.has(code);
}

/** The root: the span without a parent, else (root not arrived yet) the span whose parent is missing, earliest first. */
function rootOf(stored: StoredTrace): Span {
  const byStart = [...stored.spans].sort((a, b) => a.startUnixMs - b.startUnixMs);
  return byStart.find((s) => !s.parentSpanId) ?? byStart.find((s) => !stored.spanIds.has(s.parentSpanId ?? '')) ?? byStart[0]!;
}

function summaryOf(stored: StoredTrace): TraceSummary {
  const root = rootOf(stored);
  const statusCode = root.kind === 'server' ? integerAttribute(root, 'http.response.status_code') : undefined;
  const requestId = stringAttribute(root, 'msa.request_id') ?? [...stored.requestIds][0];
  return {
    traceId: stored.traceId,
    name: root.name,
    service: root.service,
    startUnixMs: stored.startUnixMs,
    durationMs: stored.endUnixMs - stored.startUnixMs,
    spanCount: stored.spans.length,
    services: [...stored.services].sort(),
    errorCount: stored.errorSpans,
    ...(statusCode !== undefined ? { statusCode } : {}),
    ...(requestId ? { requestId } : {}),
  };
}

/** Depth-first from each root, children by start time; a span whose parent is missing starts a tree of its own. */
function waterfallOrder(spans: readonly Span[]): { span: Span; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const span of spans) {
    if (span.parentSpanId && ids.has(span.parentSpanId) && span.parentSpanId !== span.spanId) {
      const siblings = children.get(span.parentSpanId);
      if (siblings) siblings.push(span);
      else children.set(span.parentSpanId, [span]);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a: Span, b: Span) => a.startUnixMs - b.startUnixMs || a.spanId.localeCompare(b.spanId);
  const ordered: { span: Span; depth: number }[] = [];
  const visited = new Set<string>();
  // An explicit stack: a malicious trace could nest deeper than the call stack allows.
  const stack = roots.sort(byStart).reverse().map((span) => ({ span, depth: 0 }));
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (visited.has(next.span.spanId)) continue;
    visited.add(next.span.spanId);
    ordered.push(next);
    const kids = (children.get(next.span.spanId) ?? []).sort(byStart);
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i]!, depth: next.depth + 1 });
  }
  // Spans caught in a parent cycle are never reached from a root: show them flat rather than lose them.
  for (const span of spans) if (!visited.has(span.spanId)) ordered.push({ span, depth: 0 });
  return ordered;
}
