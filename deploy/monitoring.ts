/**
 * Monitoring beyond the console, generated from the topology: a Prometheus scrape configuration
 * for every admin port and a Grafana dashboard with the same RED views the console draws. A new
 * service in the topology is scraped and charted without an edit here.
 */
import { topology, type ServiceEntry } from '@msa-poc/contracts';

export interface ScrapeTarget {
  readonly service: string;
  /** host:port of the service's admin endpoint, which serves /metrics. */
  readonly address: string;
}

/** Where each admin port is reached: loopback for `poc up`, a service name on a container network. */
export function scrapeTargets(services: readonly ServiceEntry[], hostOf: (service: ServiceEntry) => string): ScrapeTarget[] {
  return services.map((service) => ({ service: service.name, address: `${hostOf(service)}:${service.adminPort}` }));
}

export function prometheusConfig(targets: readonly ScrapeTarget[]): Record<string, unknown> {
  return {
    global: { scrape_interval: '5s', evaluation_interval: '5s' },
    scrape_configs: [
      {
        job_name: 'msa-poc',
        metrics_path: '/metrics',
        // The services label their own samples with `service`; the target's label is kept apart.
        honor_labels: true,
        static_configs: targets.map((t) => ({ targets: [t.address], labels: { service: t.service } })),
      },
    ],
  };
}

/** The scrape configuration for a system started by `poc up` on this machine. */
export const localPrometheusConfig = (): Record<string, unknown> => prometheusConfig(scrapeTargets(topology, () => '127.0.0.1'));

// ---------------------------------------------------------------------------------------------
// Grafana dashboard

type Unit = 'reqps' | 'percentunit' | 's' | 'short' | 'bytes' | 'ops';

interface Query {
  readonly expr: string;
  readonly legend: string;
}

interface Panel {
  readonly title: string;
  readonly description: string;
  readonly unit: Unit;
  readonly queries: readonly Query[];
}

interface Row {
  readonly title: string;
  readonly panels: readonly Panel[];
}

const selected = 'service=~"$service"';
const window = '[$__rate_interval]';
const rate = (metric: string, labels = ''): string => `rate(${metric}{${selected}${labels ? `,${labels}` : ''}}${window})`;
const quantile = (q: number, histogram: string, by: string): string =>
  `histogram_quantile(${q}, sum by (le, ${by}) (${rate(`${histogram}_bucket`)}))`;
const gauge = (metric: string, labels = ''): string => `${metric}{${selected}${labels ? `,${labels}` : ''}}`;

const serverRequests = 'http_server_request_duration_seconds';
const clientCalls = 'http_client_request_duration_seconds';
const failedCall = 'outcome=~"5..|timeout|unavailable|error"';

/** The dashboard's content: what an on-call engineer looks at, top to bottom. */
export const dashboardRows: readonly Row[] = [
  {
    title: 'Requests: rate, errors, duration (per service)',
    panels: [
      { title: 'Request rate', description: 'Inbound requests per second, all routes.', unit: 'reqps', queries: [{ expr: `sum by (service) (${rate(`${serverRequests}_count`)})`, legend: '{{service}}' }] },
      {
        title: 'Server errors', description: 'Share of inbound requests answered 5xx.', unit: 'percentunit',
        queries: [{ expr: `sum by (service) (${rate(`${serverRequests}_count`, 'http_response_status_class="5xx"')}) / sum by (service) (${rate(`${serverRequests}_count`)})`, legend: '{{service}}' }],
      },
      {
        title: 'Duration p50 / p99', description: 'Inbound request duration from the service\'s own histogram.', unit: 's',
        queries: [
          { expr: quantile(0.5, serverRequests, 'service'), legend: '{{service}} p50' },
          { expr: quantile(0.99, serverRequests, 'service'), legend: '{{service}} p99' },
        ],
      },
      { title: 'In flight', description: 'Inbound requests being handled now.', unit: 'short', queries: [{ expr: `sum by (service) (${gauge('http_server_active_requests')})`, legend: '{{service}}' }] },
    ],
  },
  {
    title: 'Dependencies: calls between services',
    panels: [
      { title: 'Call rate per edge', description: 'Outbound calls per second, caller → callee.', unit: 'reqps', queries: [{ expr: `sum by (service, peer_service) (${rate(`${clientCalls}_count`)})`, legend: '{{service}} → {{peer_service}}' }] },
      {
        title: 'Failed calls per edge', description: 'Share of outbound calls that failed (5xx, timeout, unavailable), retries included.', unit: 'percentunit',
        queries: [{ expr: `sum by (service, peer_service) (${rate(`${clientCalls}_count`, failedCall)}) / sum by (service, peer_service) (${rate(`${clientCalls}_count`)})`, legend: '{{service}} → {{peer_service}}' }],
      },
      { title: 'Call duration p99 per edge', description: 'Outbound call duration, retries included.', unit: 's', queries: [{ expr: quantile(0.99, clientCalls, 'service, peer_service'), legend: '{{service}} → {{peer_service}}' }] },
      { title: 'Retries', description: 'Outbound calls retried per second.', unit: 'ops', queries: [{ expr: `sum by (service, peer_service) (${rate('http_client_retries_total')})`, legend: '{{service}} → {{peer_service}}' }] },
      { title: 'Circuit breakers', description: '0 closed, 1 half-open, 2 open.', unit: 'short', queries: [{ expr: `max by (service, peer_service, operation) (${gauge('circuit_breaker_state')})`, legend: '{{service}} → {{peer_service}} {{operation}}' }] },
    ],
  },
  {
    title: 'Database',
    panels: [
      { title: 'Statement duration p99', description: 'Per statement name, never its values.', unit: 's', queries: [{ expr: quantile(0.99, 'db_client_operation_duration_seconds', 'service, db_operation_name'), legend: '{{db_operation_name}}' }] },
      {
        title: 'Connections', description: 'Pool connections in use and idle, and requests waiting for one.', unit: 'short',
        queries: [
          { expr: `sum by (service, state) (${gauge('db_client_connection_count')})`, legend: '{{service}} {{state}}' },
          { expr: `sum by (service) (${gauge('db_client_connection_pending_requests')})`, legend: '{{service}} waiting' },
        ],
      },
    ],
  },
  {
    title: 'Events: outbox, consumers, dead letters',
    panels: [
      { title: 'Outbox lag', description: 'Age of the oldest event not yet published.', unit: 's', queries: [{ expr: `max by (service) (${gauge('outbox_lag_seconds')})`, legend: '{{service}}' }] },
      { title: 'Outbox pending', description: 'Events written but not yet published.', unit: 'short', queries: [{ expr: `sum by (service) (${gauge('outbox_pending_events')})`, legend: '{{service}}' }] },
      { title: 'Consumer lag', description: 'Events delivered or waiting that the consumer has not finished.', unit: 'short', queries: [{ expr: `sum by (service) (${gauge('messaging_consumer_lag_events')})`, legend: '{{service}}' }] },
      { title: 'Publish / process p99', description: 'Time to publish an event and to process one.', unit: 's', queries: [{ expr: quantile(0.99, 'messaging_client_operation_duration_seconds', 'service, messaging_operation_name'), legend: '{{service}} {{messaging_operation_name}}' }] },
      { title: 'Dead letters', description: 'Events given up on in the last 5 minutes.', unit: 'short', queries: [{ expr: `sum by (service, consumer) (increase(dead_letters_total{${selected}}[5m]))`, legend: '{{service}} {{consumer}}' }] },
    ],
  },
  {
    title: 'Runtime and edge',
    panels: [
      { title: 'Event-loop utilisation', description: 'Share of time the event loop was busy: near 1, the service is saturated.', unit: 'percentunit', queries: [{ expr: `max by (service) (${gauge('nodejs_eventloop_utilization_ratio')})`, legend: '{{service}}' }] },
      { title: 'Event-loop delay p99', description: 'How late timers and I/O callbacks ran.', unit: 's', queries: [{ expr: `max by (service) (${gauge('nodejs_eventloop_lag_p99_seconds')})`, legend: '{{service}}' }] },
      { title: 'CPU', description: 'CPU seconds per second (1 = one core).', unit: 'short', queries: [{ expr: `sum by (service) (${rate('process_cpu_seconds_total')})`, legend: '{{service}}' }] },
      {
        title: 'Memory', description: 'Resident set and used heap.', unit: 'bytes',
        queries: [
          { expr: `sum by (service) (${gauge('process_resident_memory_bytes')})`, legend: '{{service}} rss' },
          { expr: `sum by (service) (${gauge('nodejs_heap_size_used_bytes')})`, legend: '{{service}} heap' },
        ],
      },
      { title: 'Rate-limit rejections', description: 'Requests refused with 429, per policy.', unit: 'reqps', queries: [{ expr: `sum by (service, policy) (${rate('rate_limit_rejections_total')})`, legend: '{{policy}}' }] },
      { title: 'Dropped spans', description: 'Spans dropped because the export queue was full (the collector is slow or down).', unit: 'ops', queries: [{ expr: `sum by (service) (${rate('otel_sdk_processor_span_processed_total', 'error_type="queue_full"')})`, legend: '{{service}}' }] },
    ],
  },
];

const panelWidth = 8;
const panelHeight = 8;
const gridColumns = 24;

/** The dashboard in Grafana's JSON model, with the data source and the services as variables. */
export function grafanaDashboard(rows: readonly Row[] = dashboardRows): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: gridColumns, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((panel, index) => {
      const x = (index * panelWidth) % gridColumns;
      if (index > 0 && x === 0) y += panelHeight;
      panels.push({
        id: id++,
        type: 'timeseries',
        title: panel.title,
        description: panel.description,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: panelHeight, w: panelWidth, x, y },
        fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
        options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
        targets: panel.queries.map((query, q) => ({ refId: String.fromCharCode(65 + q), expr: query.expr, legendFormat: query.legend, datasource: { type: 'prometheus', uid: '${datasource}' } })),
      });
    });
    y += panelHeight;
  }
  return {
    uid: 'msa-poc-red',
    title: 'msa-poc: services, dependencies, events',
    description: 'Rate, errors and duration per service and per dependency, with the outbox, consumers and runtime; generated from the topology by `npm run deploy:render`.',
    tags: ['msa-poc'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '10s',
    time: { from: 'now-15m', to: 'now' },
    timezone: 'browser',
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        {
          name: 'service', label: 'Service', type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(http_server_request_duration_seconds_count, service)', refId: 'services' },
          definition: 'label_values(http_server_request_duration_seconds_count, service)',
          includeAll: true, multi: true, allValue: '.*', current: { text: 'All', value: '$__all' }, refresh: 2, sort: 1, hide: 0,
        },
      ],
    },
    panels,
  };
}

/** The series a dashboard queries: every selector, a name followed by `{` or `[`. */
export function queriedMetrics(dashboard: Record<string, unknown>): string[] {
  const names = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'expr' && typeof inner === 'string') {
          for (const match of inner.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)) names.add(match[1]!);
        } else visit(inner);
      }
    }
  };
  visit(dashboard);
  return [...names].sort();
}

/** The series a Prometheus text exposition can be queried by: a histogram's `_bucket`, `_count` and `_sum` among them. */
export function exposedMetrics(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, kind] = match as unknown as [string, string, string];
    if (kind === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(name + suffix);
    else if (kind === 'summary') for (const suffix of ['', '_count', '_sum']) names.add(name + suffix);
    else names.add(name);
  }
  return names;
}
