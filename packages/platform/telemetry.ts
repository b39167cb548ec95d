/**
 * Request tagging and trace context. Every request runs inside a context that carries its request
 * id, its W3C trace context and its deadline; logs and outbound calls read it from there, so no
 * business code passes them by hand.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  readonly tracestate?: string;
}

export interface RequestContext {
  readonly requestId: string;
  readonly trace: TraceContext;
  /** Epoch ms by which the whole request must be answered. */
  readonly deadline: number;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const currentContext = (): RequestContext | undefined => storage.getStore();
export const runWithContext = <T>(context: RequestContext, fn: () => T): T => storage.run(context, fn);
/** Runs work that outlives the request that started it (a scheduled callback): no request deadline applies. */
export const runDetached = <T>(fn: () => T): T => storage.exit(fn);

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

export const newSpanId = (): string => randomBytes(8).toString('hex');
export const newTraceId = (): string => randomBytes(16).toString('hex');

/** Parses a W3C traceparent; an all-zero id or an unknown version is treated as absent. */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (!value) return undefined;
  const match = traceparentPattern.exec(value.trim());
  if (!match) return undefined;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export const formatTraceparent = (t: TraceContext): string => `00-${t.traceId}-${t.spanId}-${t.sampled ? '01' : '00'}`;

/** Continues the caller's trace with a new span of ours, or starts a trace. */
export function childOf(parent: TraceContext | undefined, tracestate?: string): TraceContext {
  if (parent) return { traceId: parent.traceId, spanId: newSpanId(), sampled: parent.sampled, ...(tracestate ? { tracestate } : {}) };
  return { traceId: newTraceId(), spanId: newSpanId(), sampled: true };
}

/** Accepts a well-formed incoming request id, otherwise mints one. */
export const requestIdFrom = (incoming: string | undefined): string =>
  incoming && requestIdPattern.test(incoming) ? incoming : randomUUID();

/** Paths whose values never reach a log line: credentials, proofs, keys and personal addresses. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.dpop',
  'req.headers.cookie',
  'req.headers.signature',
  'req.headers["signature-input"]',
  'headers.authorization',
  'headers.dpop',
  '*.client_assertion',
  '*.access_token',
  '*.privateKey',
  '*.key',
  '*.d',
  '*.shippingAddress',
  'shippingAddress',
  'body.shippingAddress',
  'order.shippingAddress',
];

export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const context = storage.getStore();
        return context ? { request_id: context.requestId, trace_id: context.trace.traceId, span_id: context.trace.spanId } : {};
      },
    },
    destination,
  );
}

export type { Logger };
