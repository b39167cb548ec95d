/**
 * What a service's process loads: every module costs resident memory in each of thirty processes,
 * so the chassis loads only what every service uses, and a driver or exporter only where it is used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { modulesLoadedBy, packageOf } from './module-probe.js';

const loadedBy = (script: string) => modulesLoadedBy(script, fileURLToPath(new URL('..', import.meta.url)), { ...process.env, POC_LOG_LEVEL: 'silent' });

test('the chassis of a service loads no database driver, broker client, span exporter or undici beyond its pool', () => {
  const loaded = loadedBy(`await import('@msa-poc/platform/service');`);
  const packages = new Set(loaded.map(packageOf));
  assert.ok(packages.has('fastify') && loaded.includes('undici/lib/dispatcher/pool.js'), `the probe sees both ESM and CommonJS loads: ${[...packages].join(', ')}`);
  for (const unused of ['pg', '@electric-sql/pglite', '@nats-io/transport-node', '@nats-io/jetstream', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-proto']) {
    assert.ok(!packages.has(unused), `${unused} is loaded by a service that does not use it`);
  }
  assert.ok(!loaded.includes('undici/index.js'), 'undici\'s entry point loads fetch, WebSocket, the cache and the mock agent, which no service uses');
  assert.deepEqual(loaded.filter((file) => file.startsWith('@opentelemetry/semantic-conventions/dist/index.')), ['@opentelemetry/semantic-conventions/dist/index.cjs'], 'one build of the semantic conventions, the one the SDK requires');
});

test('a service that exports spans loads the exporter of its protocol only, and the broker module loads the NATS client', () => {
  const exporting = loadedBy(`
const { loadConfig } = await import('@msa-poc/platform/config');
const { createTracing } = await import('@msa-poc/platform/tracing');
const tracing = createTracing({ service: 'orders', settings: loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }).tracing });
await tracing.shutdown();`).map(packageOf);
  assert.ok(exporting.includes('@opentelemetry/exporter-trace-otlp-http'), 'spans exported as OTLP JSON need the JSON exporter');
  assert.ok(!exporting.includes('@opentelemetry/exporter-trace-otlp-proto'), 'the protobuf exporter is loaded although spans go out as JSON');

  const broker = loadedBy(`await import('@msa-poc/platform/broker');`).map(packageOf);
  assert.ok(broker.includes('@nats-io/transport-node'), 'a service that publishes events loads the NATS client');
});
