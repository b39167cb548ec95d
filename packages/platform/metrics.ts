/**
 * Prometheus metrics, named after OpenTelemetry's semantic conventions as translated to
 * Prometheus. Buckets span 0.5 ms to 10 s: in-process hops are sub-millisecond, faults are seconds.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createNoopMeter, type Attributes, type Meter, type MeterProvider, type MetricOptions, type ObservableCallback } from '@opentelemetry/api';

export const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/**
 * An instrument that records nothing, standing in for every instrument while the metrics bench
 * switch is off: the code that observes stays as it is and costs a call that returns.
 */
function silent<M>(): M {
  const ignore = (): undefined => undefined;
  const instrument: Record<string, unknown> = { observe: ignore, inc: ignore, dec: ignore, set: ignore, reset: ignore, zero: ignore, remove: ignore, setToCurrentTime: ignore };
  instrument.labels = () => instrument;
  instrument.startTimer = () => () => 0;
  return instrument as M;
}

type InstrumentKind = typeof Counter | typeof Gauge | typeof Histogram;
type Configuration<K extends InstrumentKind> = Omit<ConstructorParameters<K>[0], 'registers'>;

export interface MetricsOptions {
  /** False with the metrics bench switch: nothing is observed; the process gauges (CPU, memory, event loop), read only when scraped, remain. */
  readonly record?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  /** Whether observations are recorded (false only with POC_BENCH_DISABLE=metrics). */
  readonly recording: boolean;
  readonly serverDuration: Histogram<'http_route' | 'http_request_method' | 'http_response_status_class'>;
  readonly serverInFlight: Gauge;
  readonly clientDuration: Histogram<'peer_service' | 'operation' | 'outcome'>;
  readonly breakerState: Gauge<'peer_service' | 'operation'>;
  readonly retries: Counter<'peer_service' | 'operation'>;
  #messagingDuration: Histogram<'messaging_operation_name' | 'messaging_destination_name' | 'outcome'> | undefined;
  #deadLetters: Counter<'consumer'> | undefined;
  #lastElu = performance.eventLoopUtilization();

  constructor(service: string, options: MetricsOptions = {}) {
    this.recording = options.record ?? true;
    this.registry.setDefaultLabels({ service });
    // Kept with recording off: they are how every variant of a benchmark is measured.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    this.serverDuration = this.histogram({
      name: 'http_server_request_duration_seconds', help: 'Duration of inbound HTTP requests, by route, method and status class',
      labelNames: ['http_route', 'http_request_method', 'http_response_status_class'] as const, buckets: latencyBuckets,
    });
    this.serverInFlight = this.gauge({ name: 'http_server_active_requests', help: 'Inbound requests being handled now' });
    this.clientDuration = this.histogram({
      name: 'http_client_request_duration_seconds', help: 'Duration of outbound calls per dependency and operation, retries included',
      labelNames: ['peer_service', 'operation', 'outcome'] as const, buckets: latencyBuckets,
    });
    this.breakerState = this.gauge({ name: 'circuit_breaker_state', help: 'Circuit breaker per dependency and operation: 0 closed, 1 half-open, 2 open', labelNames: ['peer_service', 'operation'] as const });
    this.retries = this.counter({ name: 'http_client_retries_total', help: 'Outbound calls retried', labelNames: ['peer_service', 'operation'] as const });
    const elu = new Gauge({
      name: 'nodejs_eventloop_utilization_ratio', help: 'Share of time the event loop was busy since the last scrape',
      registers: [this.registry],
      collect: () => {
        const now = performance.eventLoopUtilization();
        elu.set(performance.eventLoopUtilization(now, this.#lastElu).utilization);
        this.#lastElu = now;
      },
    });
  }

  /** A histogram of this service's registry; one that records nothing while recording is off. */
  histogram<L extends string>(configuration: Configuration<typeof Histogram> & { labelNames?: readonly L[] }): Histogram<L> {
    return this.recording ? new Histogram<L>({ ...configuration, registers: [this.registry] }) : silent<Histogram<L>>();
  }

  /** A counter of this service's registry; one that records nothing while recording is off. */
  counter<L extends string>(configuration: Configuration<typeof Counter> & { labelNames?: readonly L[] }): Counter<L> {
    return this.recording ? new Counter<L>({ ...configuration, registers: [this.registry] }) : silent<Counter<L>>();
  }

  /** A gauge of this service's registry (with `collect`, read when scraped); absent while recording is off. */
  gauge<L extends string>(configuration: Configuration<typeof Gauge> & { labelNames?: readonly L[] }): Gauge<L> {
    return this.recording ? new Gauge<L>({ ...configuration, registers: [this.registry] }) : silent<Gauge<L>>();
  }

  /** Publishing and processing of events; registered by the services that move events, on first use. */
  get messagingDuration(): Histogram<'messaging_operation_name' | 'messaging_destination_name' | 'outcome'> {
    this.#messagingDuration ??= this.histogram({
      name: 'messaging_client_operation_duration_seconds', help: 'Duration of publishing an event (publish) or of handling one delivery of it (process), by destination and outcome',
      labelNames: ['messaging_operation_name', 'messaging_destination_name', 'outcome'] as const, buckets: latencyBuckets,
    });
    return this.#messagingDuration;
  }

  /** Events a consumer gave up on; registered by the services that consume events, on first use. */
  get deadLetters(): Counter<'consumer'> {
    this.#deadLetters ??= this.counter({ name: 'dead_letters_total', help: 'Events a consumer gave up on and filed as dead letters, by consumer', labelNames: ['consumer'] as const });
    return this.#deadLetters;
  }

  /**
   * `bench_disabled_feature{feature="…"} 1` for each feature switched off, so that every figure
   * scraped from this service names the variant it was measured in. Registered whether or not
   * recording is on.
   */
  nameBenchVariant(features: Iterable<string>): void {
    const gauge = new Gauge({ name: 'bench_disabled_feature', help: 'A production feature switched off for a benchmark (POC_BENCH_DISABLE); absent in normal operation', labelNames: ['feature'], registers: [this.registry] });
    for (const feature of features) gauge.set({ feature }, 1);
  }
}

/**
 * The OpenTelemetry SDK reports on itself (spans dropped for a full queue, the queue's depth,
 * export outcomes and durations) through the OpenTelemetry metrics API. This meter provider turns
 * those instruments into prom-client metrics of the service's registry, named as OpenTelemetry's
 * Prometheus translation names them (dots to underscores, `_seconds` for seconds, `_total` for
 * counters), so they are scraped with everything else without a metrics SDK in the process.
 * Only `error.type` becomes a label: the other attributes name the SDK component and the collector
 * address, constant within a process.
 */
export function prometheusMeterProvider(registry: Registry): MeterProvider {
  const fallback = createNoopMeter();
  const labelsOf = (attributes: Attributes | undefined): LabelValues<'error_type'> => {
    const errorType = attributes?.['error.type'];
    return errorType === undefined ? {} : { error_type: String(errorType) };
  };
  const promName = (name: string, options: MetricOptions | undefined, suffix = '') =>
    `${name.replace(/[^A-Za-z0-9_]/g, '_')}${options?.unit === 's' ? '_seconds' : ''}${suffix}`;
  const help = (options: MetricOptions | undefined, name: string) => options?.description || `OpenTelemetry SDK instrument ${name}`;
  // Registered once per name: a second span processor adds to the same series.
  const existing = <M>(name: string, kind: abstract new (...args: never[]) => M): M | undefined => {
    const metric = registry.getSingleMetric(name);
    return metric instanceof kind ? metric : undefined;
  };
  const gauge = (name: string, options: MetricOptions | undefined, collect?: () => void): Gauge<'error_type'> => {
    const promNamed = promName(name, options);
    return existing(promNamed, Gauge<'error_type'>) ?? new Gauge({ name: promNamed, help: help(options, name), labelNames: ['error_type'], registers: [registry], ...(collect ? { collect } : {}) });
  };
  const observableGauge = (name: string, options: MetricOptions | undefined) => {
    const callbacks = new Set<ObservableCallback>();
    const target: Gauge<'error_type'> = gauge(name, options, () => {
      for (const callback of callbacks) void callback({ observe: (value, attributes) => target.set(labelsOf(attributes), value) });
    });
    return { addCallback: (callback: ObservableCallback) => void callbacks.add(callback), removeCallback: (callback: ObservableCallback) => void callbacks.delete(callback) };
  };
  const meter: Meter = {
    createCounter: (name, options) => {
      const promNamed = promName(name, options, '_total');
      const counter = existing(promNamed, Counter<'error_type'>) ?? new Counter({ name: promNamed, help: help(options, name), labelNames: ['error_type'], registers: [registry] });
      return { add: (value, attributes) => { if (value > 0) counter.inc(labelsOf(attributes), value); } };
    },
    createUpDownCounter: (name, options) => {
      const target = gauge(name, options);
      return { add: (value, attributes) => target.inc(labelsOf(attributes), value) };
    },
    createGauge: (name, options) => {
      const target = gauge(name, options);
      return { record: (value, attributes) => target.set(labelsOf(attributes), value) };
    },
    createHistogram: (name, options) => {
      const promNamed = promName(name, options);
      const histogram = existing(promNamed, Histogram<'error_type'>) ?? new Histogram({
        name: promNamed, help: help(options, name), labelNames: ['error_type'], registers: [registry], ...(options?.unit === 's' ? { buckets: latencyBuckets } : {}),
      });
      return { record: (value, attributes) => histogram.observe(labelsOf(attributes), value) };
    },
    createObservableGauge: observableGauge,
    createObservableUpDownCounter: observableGauge,
    // Not used by the trace SDK; a Prometheus counter cannot be set from an observation anyway.
    createObservableCounter: (name, options) => fallback.createObservableCounter(name, options),
    addBatchObservableCallback: () => undefined,
    removeBatchObservableCallback: () => undefined,
  };
  return { getMeter: () => meter };
}

export { Counter, Gauge, Histogram, monitorEventLoopDelay };
