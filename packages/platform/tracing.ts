/**
 * Distributed tracing: one OpenTelemetry tracer provider per service, its spans batched off the
 * request path and sent over OTLP/HTTP to the console (or any collector). Span and attribute names
 * are a contract with the console, which derives its service map and latencies from them.
 *
 * A collector that is down or slow costs a service nothing but the spans: export runs in the
 * background with a bounded queue, spans that do not fit are dropped and counted
 * (`otel_sdk_processor_span_processed_total{error_type="queue_full"}`), failed exports are counted
 * (`otel_sdk_exporter_span_exported_total{error_type=…}`) and logged once per outage, not per span.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  ROOT_CONTEXT, SpanKind, SpanStatusCode, context, defaultTextMapGetter, defaultTextMapSetter, trace,
  type Attributes, type Context, type Link, type Span, type SpanContext, type SpanOptions, type Tracer,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type ReadableSpan, type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { ProblemError } from './errors.js';
import { encodeTraceExportRequest } from './otlp-protobuf.js';
import type { TracingSettings } from './config.js';
import { prometheusMeterProvider, type Metrics } from './metrics.js';
import { currentContext, type Logger } from './telemetry.js';

// The OpenTelemetry SDK is CommonJS and requires the CommonJS build of the semantic conventions;
// importing them as ESM would load the package's ESM build next to it, 1.5 MB more in every
// process. The exporter of the configured protocol only is loaded, when spans are exported.
const requireCjs = createRequire(import.meta.url);
const { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME } = requireCjs('@opentelemetry/semantic-conventions') as typeof import('@opentelemetry/semantic-conventions');

/** Every span attribute the platform writes: OpenTelemetry's semantic conventions, and `msa.*` of our own. */
export const attr = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  httpResendCount: 'http.request.resend_count',
  httpRequestBodySize: 'http.request.body.size',
  httpResponseBodySize: 'http.response.body.size',
  errorType: ATTR_ERROR_TYPE,
  peerService: 'peer.service',
  operation: 'msa.operation',
  requestId: 'msa.request_id',
  caller: 'msa.caller',
  transport: 'msa.transport',
  dbSystem: 'db.system.name',
  dbEngine: 'msa.db.engine',
  dbOperation: 'db.operation.name',
  dbSummary: 'db.query.summary',
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingOperation: 'messaging.operation.name',
  messagingMessageId: 'messaging.message.id',
  messagingBatchCount: 'messaging.batch.message_count',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingDeliveryCount: 'msa.messaging.delivery_count',
} as const;

export interface TracingOptions {
  readonly service: string;
  readonly settings: TracingSettings;
  /** Where the SDK's own metrics go: dropped spans, queue depth, export outcomes and durations. */
  readonly metrics?: Metrics;
  /** Told once when exports start failing and once when they recover. */
  readonly log?: Logger;
  /** Replaces the OTLP exporter, e.g. with an in-memory one in tests. */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  readonly tracer: Tracer;
  /** Sends the queued spans; resolves within `timeoutMs` whatever the collector does. */
  flush(timeoutMs?: number): Promise<void>;
  /** Flushes, then stops; resolves within `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * The tracer of one service. Tracing is on or off here and nowhere else: with export off the
 * provider samples nothing, so spans cost an id and nothing more, while trace ids still reach
 * logs, responses and callees.
 */
export function createTracing(options: TracingOptions): Tracing {
  const { settings } = options;
  const resource = defaultResource().merge(resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.service,
    'service.namespace': 'msa-poc',
    'service.instance.id': randomUUID(),
  }));
  const exporting = settings.exportSpans || options.exporter !== undefined;
  const selfObsMeterProvider = options.metrics ? prometheusMeterProvider(options.metrics.registry) : undefined;
  const spanProcessors = exporting
    ? [new BatchSpanProcessor({
        exporter: new ReportingExporter(options.exporter ?? otlpExporter(settings, selfObsMeterProvider), settings.endpoint, options.log),
        maxQueueSize: settings.maxQueueSize,
        maxExportBatchSize: settings.maxExportBatchSize,
        scheduledDelayMillis: settings.scheduledDelayMs,
        exportTimeoutMillis: settings.exportTimeoutMs,
        ...(selfObsMeterProvider ? { selfObsMeterProvider } : {}),
      })]
    : [];
  if (!exporting && selfObsMeterProvider) {
    // No processor, nothing queued or dropped: the series still exist (at zero) for dashboards that expect them.
    const meter = selfObsMeterProvider.getMeter('msa-poc');
    meter.createCounter('otel.sdk.processor.span.processed', { description: 'Spans whose processing finished; none while export is off' });
    meter.createObservableUpDownCounter('otel.sdk.processor.span.queue.size', { description: 'Spans waiting for export; none while export is off' }).addCallback((result) => result.observe(0));
  }
  const provider = new TracerProvider({
    resource,
    sampler: exporting ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }) : new AlwaysOffSampler(),
    spanProcessors,
  });
  const within = (work: Promise<void>, timeoutMs: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs).unref(); });
    return Promise.race([work.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  };
  return {
    tracer: provider.getTracer('msa-poc'),
    flush: (timeoutMs = 2_000) => within(provider.forceFlush({ timeoutMillis: timeoutMs }), timeoutMs),
    shutdown: (timeoutMs = 1_000) => within(provider.shutdown(), timeoutMs),
  };
}

function otlpExporter(settings: TracingSettings, selfObsMeterProvider: ReturnType<typeof prometheusMeterProvider> | undefined): SpanExporter {
  const config = { url: settings.endpoint, timeoutMillis: settings.exportTimeoutMs, keepAlive: true, ...(selfObsMeterProvider ? { selfObsMeterProvider } : {}) };
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } = requireCjs('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(config);
  }
  // OpenTelemetry's protobuf exporter (its HTTP transport, retries, timeouts and self-metrics), with
  // the hand-written encoder (otlp-protobuf.ts) in place of the transformer's serializer.
  const { OTLPExporterBase } = requireCjs('@opentelemetry/otlp-exporter-base') as typeof import('@opentelemetry/otlp-exporter-base');
  const { convertLegacyHttpOptions, createOtlpHttpExportDelegate } = requireCjs('@opentelemetry/otlp-exporter-base/node-http') as typeof import('@opentelemetry/otlp-exporter-base/node-http');
  const { ProtobufTraceSerializer, TraceExporterMetricsHelper } = requireCjs('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
  const serializer = { serializeRequest: encodeTraceExportRequest, deserializeResponse: ProtobufTraceSerializer.deserializeResponse };
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
    serializer, 'otlp_http_span_exporter', TraceExporterMetricsHelper, selfObsMeterProvider,
  );
  return new OTLPExporterBase(delegate);
}

/** Passes spans on, and says once (not per batch, not per span) when the collector stops taking them and when it takes them again. */
class ReportingExporter implements SpanExporter {
  #failing = false;

  constructor(private readonly inner: SpanExporter, private readonly endpoint: string, private readonly log: Logger | undefined) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      const failing = result.code !== ExportResultCode.SUCCESS;
      if (failing !== this.#failing) {
        this.#failing = failing;
        // Outside any request: the export timer may have been set while one was active.
        context.with(ROOT_CONTEXT, () => failing
          ? this.log?.warn({ endpoint: this.endpoint, err: result.error?.message }, 'spans cannot be exported; they are dropped while this lasts and counted in otel_sdk_exporter_span_exported_total. Start the console (poc up) or set OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_TRACES_EXPORTER=none to stop exporting')
          : this.log?.info({ endpoint: this.endpoint }, 'spans are exported again'));
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------------
// Propagation: W3C trace context, in HTTP headers and in CloudEvents (whose traceparent and
// tracestate attributes have the same names and format).

const propagator = new W3CTraceContextPropagator();

/** A carrier of trace context under `traceparent` and `tracestate`: HTTP headers, a CloudEvent. */
export type Carrier = object;

/** The context a carrier continues (its span as a remote parent), or the root context when it carries none. */
export const extractContext = (carrier: Carrier, base: Context = ROOT_CONTEXT): Context => propagator.extract(base, carrier, defaultTextMapGetter);

/** Writes `ctx`'s span into the carrier as traceparent (and tracestate, when there is one). */
export function injectContext(ctx: Context, carrier: Record<string, unknown>): void {
  propagator.inject(ctx, carrier, defaultTextMapSetter);
}

/** `traceparent` of a span, e.g. for the `traceresponse` header. */
export const traceparentOf = (spanContext: SpanContext): string =>
  `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 1) === 1 ? '01' : '00'}`;

// ---------------------------------------------------------------------------------------------------
// Spans

/**
 * Runs `fn` inside a new span (active while `fn` runs, its children nest under it), ends the span
 * when `fn` settles, and marks it failed with the error's type when `fn` throws.
 */
export async function inSpan<T>(tracer: Tracer, name: string, options: SpanOptions, fn: (span: Span) => Promise<T>, parent: Context = context.active()): Promise<T> {
  const span = tracer.startSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Whether the active span is recorded: work that only adds detail to a trace (a database span) is skipped when it is not. */
export const activeSpanRecording = (): boolean => trace.getSpan(context.active())?.isRecording() ?? false;

/** Status ERROR with a low-cardinality `error.type`: a problem's type, an error code, or the error's class. */
export function markFailed(span: Span, error: unknown, errorType: string = errorTypeOf(error)): void {
  if (!span.isRecording()) return;
  span.setAttribute(attr.errorType, errorType);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

export function errorTypeOf(error: unknown): string {
  if (error instanceof ProblemError) return error.problem.type.slice(error.problem.type.lastIndexOf('/') + 1);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.name : 'unknown';
}

/** Names the caller of the current request on its server span, once known (a client once authenticated, a partner once its signature is checked). */
export function identifyCaller(caller: string): void {
  currentContext()?.span.setAttribute(attr.caller, caller);
}

/** For tests of services that trace: spans kept in memory instead of exported. */
export { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';

export { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, context, type Attributes, type Context, type Link, type Span, type SpanContext, type Tracer };
