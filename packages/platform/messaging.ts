/**
 * How an event hop is traced and measured, the same on every transport (JetStream in production,
 * the store's outbox feed in the embedded profile): a PRODUCER span per publish, whose context the
 * event carries in its `traceparent`, and a CONSUMER span per processing attempt that continues
 * that context, so the asynchronous hop stays in the trace of the request that caused it, and
 * links to it, as OpenTelemetry's messaging conventions ask.
 */
import { SpanKind, context, trace, type Context, type Link, type Span, type Tracer } from '@opentelemetry/api';
import type { Metrics } from './metrics.js';
import { attr, errorTypeOf, extractContext, injectContext, markFailed, type Carrier } from './tracing.js';

export type MessagingSystem = 'nats' | 'outbox-feed';

export interface EventTelemetry {
  readonly tracer: Tracer;
  readonly metrics?: Metrics | undefined;
}

export interface Hop {
  readonly system: MessagingSystem;
  /** Subject or feed the event travels on, e.g. `orders.placed`. */
  readonly destination: string;
}

export interface Publication {
  /** A copy of the event carrying this publish as its trace context. */
  stamp<E extends Carrier>(event: E): E;
  /** Ends the publish; with an error, as a failed one. */
  end(error?: unknown): void;
  /**
   * The event was not published after all (the request was a replay and wrote none): the span is
   * left unended, and a span that never ends is never exported, so no publish shows in the trace.
   */
  discard(): void;
}

/** A copy of the event whose traceparent (and tracestate) are those of the span active in `ctx`. */
export function withTraceContext<E extends Carrier>(event: E, ctx: Context): E {
  const { traceparent: _previous, tracestate: _previousState, ...stamped } = event as { traceparent?: unknown; tracestate?: unknown };
  injectContext(ctx, stamped);
  return stamped as E;
}

/** The messaging attributes of one operation on a hop: what every span of the transport carries. */
export const hopAttributes = (hop: Hop, operation: 'publish' | 'process' | 'receive' | 'settle'): Record<string, string> => ({
  [attr.messagingSystem]: hop.system,
  [attr.messagingDestination]: hop.destination,
  [attr.messagingOperation]: operation,
});

/**
 * Starts publishing one event. The span is a child of `parent` (by default the active context) and
 * may link to what triggered the publish (a relay batch).
 */
export function startPublish(telemetry: EventTelemetry, hop: Hop, eventId: string, options: { parent?: Context; links?: Link[] } = {}): Publication {
  const parent = options.parent ?? context.active();
  const span = telemetry.tracer.startSpan(`publish ${hop.destination}`, {
    kind: SpanKind.PRODUCER,
    attributes: { ...hopAttributes(hop, 'publish'), [attr.messagingMessageId]: eventId },
    ...(options.links ? { links: options.links } : {}),
  }, parent);
  const started = performance.now();
  const publishContext = trace.setSpan(parent, span);
  return {
    stamp: (event) => withTraceContext(event, publishContext),
    end: (error?: unknown) => {
      if (error !== undefined) markFailed(span, error);
      span.end();
      telemetry.metrics?.messagingDuration.observe(
        { messaging_operation_name: 'publish', messaging_destination_name: hop.destination, outcome: error === undefined ? 'published' : 'error' },
        (performance.now() - started) / 1000,
      );
    },
    discard: () => undefined,
  };
}

export interface Delivered {
  /** The event as received: its `traceparent` is the publish this processing continues. */
  readonly event: { readonly id: string; readonly traceparent?: string | undefined; readonly tracestate?: string | undefined };
  /** The consumer (durable name) processing it. */
  readonly consumer: string;
  /** 1 on the first attempt. */
  readonly attempt: number;
}

/** What became of one attempt: `processed`, or a named failure that the span and the metric show. */
export type Verdict = { readonly outcome: 'processed' } | { readonly outcome: string; readonly failure: string };

/**
 * Runs one processing attempt of an event inside its CONSUMER span (child of the publish, linked
 * to it) and records its duration by outcome. Each attempt, a retry or a redelivery, is its own span.
 */
export async function processEvent<T>(telemetry: EventTelemetry, hop: Hop, delivered: Delivered, process: (span: Span) => Promise<T>, verdict: (result: T) => Verdict): Promise<T> {
  const parent = extractContext(delivered.event);
  const producer = trace.getSpanContext(parent);
  const span = telemetry.tracer.startSpan(`process ${hop.destination}`, {
    kind: SpanKind.CONSUMER,
    attributes: {
      ...hopAttributes(hop, 'process'),
      [attr.messagingMessageId]: delivered.event.id,
      [attr.messagingConsumerGroup]: delivered.consumer,
      [attr.messagingDeliveryCount]: delivered.attempt,
    },
    ...(producer ? { links: [{ context: producer }] } : {}),
  }, parent);
  const started = performance.now();
  let outcome = 'error';
  try {
    const result = await context.with(trace.setSpan(parent, span), process, undefined, span);
    const judged = verdict(result);
    outcome = judged.outcome;
    if ('failure' in judged) markFailed(span, judged.failure, judged.outcome);
    return result;
  } catch (error) {
    markFailed(span, error, errorTypeOf(error));
    throw error;
  } finally {
    span.end();
    telemetry.metrics?.messagingDuration.observe(
      { messaging_operation_name: 'process', messaging_destination_name: hop.destination, outcome },
      (performance.now() - started) / 1000,
    );
  }
}
