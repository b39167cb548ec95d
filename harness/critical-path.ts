/**
 * Where a request's time goes, from its trace: the critical path (the chain of work the response
 * waited for) attributed to services and to the hops between them, and the chatter (calls, bytes
 * and round trips per hop) each user request causes.
 */
import { round } from './numbers.js';

export type SpanKind = 'server' | 'client' | 'producer' | 'consumer' | 'internal';

/** One span as the analysis needs it; times in milliseconds on one clock (all services share the machine's). */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly service: string;
  readonly kind: SpanKind;
  readonly startMs: number;
  readonly endMs: number;
  /** For a client span: the service called, or `database`. */
  readonly peerService?: string;
  readonly requestBytes?: number;
  readonly responseBytes?: number;
}

/** The database is where the store's statements run: time there is work, not network. */
export const databasePeer = 'database';

export interface PathShare {
  readonly meanMs: number;
  readonly share: number;
}

export interface CriticalPathSummary {
  readonly perService: Record<string, PathShare>;
  readonly perEdge: Record<string, PathShare>;
  readonly networkShare: number;
  readonly traces: number;
}

export interface ChatterSummary {
  readonly perEdge: Record<string, { callsPerRequest: number; bytesPerRequest: number; roundTripsPerRequest: number }>;
}

const edgeOf = (span: SpanRecord): string => `${span.service}->${span.peerService ?? 'unknown'}`;

/** The span the user's request entered by: the edge service's server span with no parent in the trace. */
export function rootOf(spans: readonly SpanRecord[]): SpanRecord | undefined {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.find((s) => s.kind === 'server' && (s.parentSpanId === undefined || !ids.has(s.parentSpanId)));
}

/**
 * Walks the critical path of one trace backwards from the root's end: at each point, the child
 * that finished last (before that point) is what the parent waited for; the gaps are the parent's
 * own time. A client span's own time is the hop (connection, TLS, serialisation, queueing) — except
 * for database calls, whose time is the database's. Work that outlives the response (events, the
 * partner) is outside the root's interval and so off the path.
 */
export function criticalPathOf(spans: readonly SpanRecord[]): Map<string, number> {
  const children = new Map<string, SpanRecord[]>();
  for (const span of spans) {
    if (span.parentSpanId === undefined) continue;
    const list = children.get(span.parentSpanId) ?? [];
    list.push(span);
    children.set(span.parentSpanId, list);
  }
  const attributed = new Map<string, number>();
  const add = (key: string, ms: number) => {
    if (ms > 0) attributed.set(key, (attributed.get(key) ?? 0) + ms);
  };
  const ownerOf = (span: SpanRecord): string =>
    span.kind === 'client' ? (span.peerService === databasePeer ? databasePeer : `edge:${edgeOf(span)}`) : `service:${span.service}`;

  const walk = (span: SpanRecord, until: number): void => {
    const from = span.startMs;
    let cursor = Math.min(until, span.endMs);
    const candidates = (children.get(span.spanId) ?? []).filter((c) => c.kind !== 'producer' && c.startMs >= from && c.startMs < cursor);
    for (;;) {
      const next = candidates
        .filter((c) => c.startMs < cursor)
        .reduce<SpanRecord | undefined>((best, c) => (Math.min(c.endMs, cursor) > (best ? Math.min(best.endMs, cursor) : -Infinity) ? c : best), undefined);
      if (!next) break;
      const childEnd = Math.min(next.endMs, cursor);
      add(ownerOf(span), cursor - childEnd);
      walk(next, childEnd);
      cursor = next.startMs;
    }
    add(ownerOf(span), cursor - from);
  };
  const root = rootOf(spans);
  if (root) walk(root, root.endMs);
  return attributed;
}

export function summarizeCriticalPath(traces: readonly (readonly SpanRecord[])[]): CriticalPathSummary {
  const totals = new Map<string, number>();
  let counted = 0;
  for (const trace of traces) {
    if (!rootOf(trace)) continue;
    counted++;
    for (const [key, ms] of criticalPathOf(trace)) totals.set(key, (totals.get(key) ?? 0) + ms);
  }
  const whole = [...totals.values()].reduce((a, b) => a + b, 0);
  const share = (ms: number): PathShare => ({ meanMs: round(ms / Math.max(1, counted)), share: whole > 0 ? round(ms / whole, 4) : 0 });
  const perService: Record<string, PathShare> = {};
  const perEdge: Record<string, PathShare> = {};
  let network = 0;
  for (const [key, ms] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    if (key.startsWith('edge:')) {
      perEdge[key.slice(5)] = share(ms);
      network += ms;
    } else perService[key.startsWith('service:') ? key.slice(8) : key] = share(ms);
  }
  return { perService, perEdge, networkShare: whole > 0 ? round(network / whole, 4) : 0, traces: counted };
}

/** Sequential round trips on a hop: overlapping calls (sent in parallel) count once. */
function roundTrips(calls: readonly SpanRecord[]): number {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  let trips = 0;
  let busyUntil = -Infinity;
  for (const call of sorted) {
    if (call.startMs >= busyUntil) trips++;
    busyUntil = Math.max(busyUntil, call.endMs);
  }
  return trips;
}

/** Calls, bytes and round trips per user request on every hop, async ones included. */
export function summarizeChatter(traces: readonly (readonly SpanRecord[])[]): ChatterSummary {
  const perEdge = new Map<string, { calls: number; bytes: number; trips: number }>();
  let requests = 0;
  for (const trace of traces) {
    if (!rootOf(trace)) continue;
    requests++;
    const byEdge = new Map<string, SpanRecord[]>();
    for (const span of trace.filter((s) => s.kind === 'client')) {
      const list = byEdge.get(edgeOf(span)) ?? [];
      list.push(span);
      byEdge.set(edgeOf(span), list);
    }
    for (const [edge, calls] of byEdge) {
      const total = perEdge.get(edge) ?? { calls: 0, bytes: 0, trips: 0 };
      total.calls += calls.length;
      total.bytes += calls.reduce((sum, c) => sum + (c.requestBytes ?? 0) + (c.responseBytes ?? 0), 0);
      total.trips += roundTrips(calls);
      perEdge.set(edge, total);
    }
  }
  return {
    perEdge: Object.fromEntries(
      [...perEdge].sort(([a], [b]) => a.localeCompare(b)).map(([edge, t]) => [edge, {
        callsPerRequest: round(t.calls / Math.max(1, requests)), bytesPerRequest: Math.round(t.bytes / Math.max(1, requests)), roundTripsPerRequest: round(t.trips / Math.max(1, requests)),
      }]),
    ),
  };
}

