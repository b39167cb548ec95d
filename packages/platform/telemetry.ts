/**
 * Request tagging and trace context. Every request runs inside a context that carries its request
 * id, its deadline and its span; logs and outbound calls read it from there, so no business code
 * passes them by hand.
 *
 * There is one context mechanism in a process: OpenTelemetry's, kept in an AsyncLocalStorage. The
 * request is a value in that context, and the trace and span ids anyone reads are those of the
 * active span, so a log line written inside a database call names the database span.
 */
import { randomUUID } from 'node:crypto';
import { context, createContextKey, trace, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { pino, type Logger } from 'pino';

// Registered once per process. If something else (an APM agent) registered its own first, that one
// is used: it keeps OpenTelemetry contexts too, which is all this module relies on.
const contextManager = new AsyncLocalStorageContextManager();
if (!context.setGlobalContextManager(contextManager.enable())) contextManager.disable();

export interface RequestContext {
  readonly requestId: string;
  /** Epoch ms by which the whole request must be answered. */
  readonly deadline: number;
  /** This service's server span for the request; the active span may be a child of it. */
  readonly span: Span;
}

const requestKey = createContextKey('msa-poc request');

export const currentContext = (): RequestContext | undefined => context.active().getValue(requestKey) as RequestContext | undefined;

/** The OpenTelemetry context in which a request's work runs: its server span, active, and the request. */
export const requestContext = (parent: Context, request: RequestContext): Context => trace.setSpan(parent, request.span).setValue(requestKey, request);

export const runWithContext = <T>(ctx: Context, fn: () => T): T => context.with(ctx, fn);

/**
 * Runs work that outlives the request that started it (a scheduled callback): no request deadline
 * applies, but the work stays in the request's trace, as a later part of the same story.
 */
export const runDetached = <T>(fn: () => T): T => context.with(context.active().deleteValue(requestKey), fn);

/** The ids of the active span, when there is a valid one. */
export function activeSpanContext(): SpanContext | undefined {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** The W3C trace id of the work in progress, for records that outlive it (audit entries). */
export const currentTraceId = (): string | undefined => activeSpanContext()?.traceId;

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

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
  '*.headers.authorization',
  '*.headers.dpop',
  'authorization',
  'dpop',
  'client_assertion',
  '*.client_assertion',
  '*.access_token',
  'privateKey',
  '*.privateKey',
  '*.key',
  'd',
  '*.d',
  '*.*.d',
  'shippingAddress',
  '*.shippingAddress',
  '*.*.shippingAddress',
  '*.*.*.shippingAddress',
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
        const active = context.active();
        const fields: { request_id?: string; trace_id?: string; span_id?: string } = {};
        const request = active.getValue(requestKey) as RequestContext | undefined;
        if (request) fields.request_id = request.requestId;
        const spanContext = trace.getSpan(active)?.spanContext();
        if (spanContext && trace.isSpanContextValid(spanContext)) {
          fields.trace_id = spanContext.traceId;
          fields.span_id = spanContext.spanId;
        }
        return fields;
      },
    },
    destination,
  );
}

export type { Logger };
