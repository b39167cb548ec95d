import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramBuckets, metricValue, quantileBetween } from './scrape.js';

const text = (fast: number, slow: number) => `# HELP http_server_request_duration_seconds x
http_server_request_duration_seconds_bucket{le="0.005",http_route="/a",service="s"} ${fast}
http_server_request_duration_seconds_bucket{le="0.1",http_route="/a",service="s"} ${fast + slow}
http_server_request_duration_seconds_bucket{le="+Inf",http_route="/a",service="s"} ${fast + slow}
http_server_request_duration_seconds_bucket{le="0.005",http_route="/b",service="s"} 0
http_server_request_duration_seconds_bucket{le="0.1",http_route="/b",service="s"} 0
http_server_request_duration_seconds_bucket{le="+Inf",http_route="/b",service="s"} 0
process_cpu_seconds_total{service="s"} 12.5
nodejs_eventloop_utilization_ratio{service="s"} 0.25
`;

test('reads values and sums histogram buckets over routes', () => {
  assert.equal(metricValue(text(1, 1), 'process_cpu_seconds_total'), 12.5);
  assert.equal(metricValue(text(1, 1), 'nodejs_eventloop_utilization_ratio'), 0.25);
  assert.equal(metricValue(text(1, 1), 'missing_metric'), undefined);
  assert.equal(histogramBuckets(text(3, 4), 'http_server_request_duration_seconds').get(Infinity), 7);
});

test('the p99 between two scrapes comes from the buckets that filled in between', () => {
  const before = histogramBuckets(text(1_000, 0), 'http_server_request_duration_seconds');
  const fastOnly = histogramBuckets(text(2_000, 0), 'http_server_request_duration_seconds');
  assert.equal(quantileBetween(before, fastOnly, 0.99), 0.005);
  const someSlow = histogramBuckets(text(1_990, 20), 'http_server_request_duration_seconds');
  assert.equal(quantileBetween(before, someSlow, 0.99), 0.1, '2 % slow requests put the p99 in the slow bucket');
  assert.equal(quantileBetween(before, before, 0.99), undefined, 'nothing served');
});
