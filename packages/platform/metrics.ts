/**
 * Prometheus metrics, named after OpenTelemetry's semantic conventions as translated to
 * Prometheus. Buckets span 0.5 ms to 10 s: in-process hops are sub-millisecond, faults are seconds.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

export class Metrics {
  readonly registry = new Registry();
  readonly serverDuration: Histogram<'http_route' | 'http_request_method' | 'http_response_status_class'>;
  readonly serverInFlight: Gauge;
  readonly clientDuration: Histogram<'peer_service' | 'operation' | 'outcome'>;
  readonly breakerState: Gauge<'peer_service' | 'operation'>;
  readonly retries: Counter<'peer_service' | 'operation'>;
  #lastElu = performance.eventLoopUtilization();

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    this.serverDuration = new Histogram({
      name: 'http_server_request_duration_seconds', help: 'Duration of inbound HTTP requests, by route, method and status class',
      labelNames: ['http_route', 'http_request_method', 'http_response_status_class'], buckets: latencyBuckets, registers: [this.registry],
    });
    this.serverInFlight = new Gauge({ name: 'http_server_active_requests', help: 'Inbound requests being handled now', registers: [this.registry] });
    this.clientDuration = new Histogram({
      name: 'http_client_request_duration_seconds', help: 'Duration of outbound calls per dependency and operation, retries included',
      labelNames: ['peer_service', 'operation', 'outcome'], buckets: latencyBuckets, registers: [this.registry],
    });
    this.breakerState = new Gauge({ name: 'circuit_breaker_state', help: 'Circuit breaker per dependency and operation: 0 closed, 1 half-open, 2 open', labelNames: ['peer_service', 'operation'], registers: [this.registry] });
    this.retries = new Counter({ name: 'http_client_retries_total', help: 'Outbound calls retried', labelNames: ['peer_service', 'operation'], registers: [this.registry] });
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
}

export { Counter, Gauge, Histogram, monitorEventLoopDelay };
