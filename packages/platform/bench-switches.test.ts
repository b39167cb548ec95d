/**
 * The bench switches (POC_BENCH_DISABLE) really remove the work of the feature they name: each
 * test shows the feature at work with its switch on and gone with it off.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { Type } from '@sinclair/typebox';
import { contract, route, topology } from '@msa-poc/contracts';
import type { FastifyInstance } from 'fastify';
import { createClient } from './client.js';
import { loadConfig } from './config.js';
import { loadIdentity, tlsClientOptions, tlsServerOptions } from './identity.js';
import { Metrics } from './metrics.js';
import { ensurePki } from './pki.js';
import { createServer, type ServerOptions } from './server.js';
import { createLogger } from './telemetry.js';
import { createTracing } from './tracing.js';

const Item = Type.Object({ name: Type.String({ maxLength: 8 }), n: Type.Integer() }, { additionalProperties: false });
const benchContract = contract({
  service: 'store',
  version: '1.0.0',
  routes: {
    echo: route({ method: 'POST', path: '/echo', summary: 'echo', body: Item, responses: { 200: Item }, callers: ['orders'], idempotent: false }),
    restricted: route({ method: 'GET', path: '/restricted', summary: 'restricted', responses: { 200: Item }, callers: ['integration'], idempotent: true }),
    page: route({ method: 'GET', path: '/page', summary: 'page', query: Type.Object({ limit: Type.Integer({ maximum: 10, default: 3 }) }), responses: { 200: Type.Object({ limit: Type.Integer({ maximum: 10 }) }) }, callers: ['orders'], idempotent: true }),
  },
});

let home: string;
before(async () => {
  home = mkdtempSync(join(tmpdir(), 'poc-bench-switches-'));
  await ensurePki({ dir: home, services: topology });
});
after(() => rmSync(home, { recursive: true, force: true }));

const settings = (benchDisabled: string) => loadConfig({ OTEL_TRACES_EXPORTER: 'none', ...(benchDisabled ? { POC_BENCH_DISABLE: benchDisabled } : {}) });

/** A store-like server of `benchContract` on a free port, answering `echo` with whatever it was given. */
async function serve(options: Partial<ServerOptions<typeof benchContract>> = {}): Promise<{ origin: string; server: FastifyInstance }> {
  const server = await createServer({
    contract: benchContract,
    handlers: {
      echo: async ({ body }) => ({ status: 200 as const, body }),
      page: async ({ query }) => ({ status: 200 as const, body: { limit: query.limit } }),
      restricted: async ({ caller }) => ({ status: 200 as const, body: { name: caller.kind, n: 0 } }),
    },
    tls: tlsServerOptions(loadIdentity(home, 'store'), { requireClientCert: true }),
    exposure: 'internal',
    publicOrigin: 'https://127.0.0.1',
    log: createLogger('store', 'silent'),
    metrics: new Metrics('store'),
    tracer: createTracing({ service: 'store', settings: settings('').tracing }).tracer,
    ...options,
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  return { origin: `${options.tls === undefined && 'tls' in options ? 'http' : 'https'}://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

function post(origin: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const identity = loadIdentity(home, 'orders');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${origin}${path}`, { method: 'POST', ca: identity.ca, cert: identity.cert, key: identity.key, checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('validation off: a body outside the contract reaches the handler, while query text is still typed and defaulted', async () => {
  const invalid = '{"name":"far too long","n":7,"extra":true}';
  const checked = await serve();
  const unchecked = await serve({ validateRequests: false });
  try {
    assert.equal((await post(checked.origin, '/echo', invalid)).status, 400, 'with validation on the body is refused');
    const accepted = await post(unchecked.origin, '/echo', invalid);
    assert.equal(accepted.status, 200, accepted.body);
    assert.equal(JSON.parse(accepted.body).name, 'far too long');

    const handle = createClient(benchContract, { origin: unchecked.origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store') });
    assert.deepEqual((await handle.client.page({ query: {} as never })).body, { limit: 3 }, 'defaults still apply');
    assert.deepEqual((await handle.client.page({ query: { limit: 7 } })).body, { limit: 7 }, 'query text still becomes a number');
    await handle.close();
  } finally {
    await checked.server.close();
    await unchecked.server.close();
  }
});

test('validation off: the client takes an answer outside the callee contract as it comes', async () => {
  // A server's serializer writes what its handler returns by the schema's shape, without checking its bounds.
  const liar = await serve({ handlers: { echo: async ({ body }) => ({ status: 200 as const, body }), page: async () => ({ status: 200 as const, body: { limit: 99 } }), restricted: async () => ({ status: 200 as const, body: { name: 'x', n: 0 } }) } });
  const connect = tlsClientOptions(loadIdentity(home, 'orders'), 'store');
  const strict = createClient(benchContract, { origin: liar.origin, peer: 'store', connect });
  const lenient = createClient(benchContract, { origin: liar.origin, peer: 'store', connect, validateResponses: false });
  try {
    await assert.rejects(strict.client.page({ query: { limit: 1 } }), /outside its contract/);
    assert.deepEqual((await lenient.client.page({ query: { limit: 1 } })).body, { limit: 99 });
  } finally {
    await strict.close();
    await lenient.close();
    await liar.server.close();
  }
});

test('metrics off: requests leave no samples, yet /metrics still names the variant and the process', async () => {
  const recorded = new Metrics('store');
  const silent = new Metrics('store', { record: false });
  silent.nameBenchVariant(['metrics']);
  for (const metrics of [recorded, silent]) {
    const { server, origin } = await serve({ metrics });
    try {
      assert.equal((await post(origin, '/echo', '{"name":"a","n":1}')).status, 200);
    } finally {
      await server.close();
    }
    metrics.histogram({ name: 'own_duration_seconds', help: 'a service instrument', labelNames: ['x'] as const }).observe({ x: 'y' }, 1);
  }
  const on = await recorded.registry.metrics();
  assert.match(on, /http_server_request_duration_seconds_count\{.*http_route="\/echo".*\} 1/);
  assert.match(on, /own_duration_seconds_count\{.*x="y".*\} 1/);
  assert.doesNotMatch(on, /bench_disabled_feature/);
  const off = await silent.registry.metrics();
  assert.doesNotMatch(off, /http_server_request_duration_seconds|http_client_request_duration_seconds|own_duration_seconds/);
  assert.match(off, /bench_disabled_feature\{feature="metrics",service="store"\} 1/);
  assert.match(off, /process_resident_memory_bytes/, 'the process gauges a benchmark reads remain');
});

test('tracing off: the tracer records no span even with an OTLP exporter configured, while responses still name a trace', async () => {
  const config = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', POC_BENCH_DISABLE: 'tracing' });
  assert.equal(config.tracing.exportSpans, false);
  const tracing = createTracing({ service: 'store', settings: config.tracing });
  const span = tracing.tracer.startSpan('work');
  assert.equal(span.isRecording(), false);
  span.end();
  const { server, origin } = await serve({ tracer: tracing.tracer });
  try {
    const identity = loadIdentity(home, 'orders');
    const traceId = await new Promise<string>((resolve, reject) => {
      httpsRequest(`${origin}/page`, { ca: identity.ca, cert: identity.cert, key: identity.key, checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-trace-id'])));
      }).on('error', reject).end();
    });
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(traceId, '0'.repeat(32));
  } finally {
    await server.close();
    await tracing.shutdown();
  }
});

test('mtls off: an internal service answers plain HTTP with no certificate, and trusts no caller identity, so the allow-list is not checked', async () => {
  const secured = await serve();
  const plain = await serve({ tls: undefined });
  assert.match(plain.origin, /^http:/);
  const overTls = createClient(benchContract, { origin: secured.origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store'), retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  const overHttp = createClient(benchContract, { origin: plain.origin, peer: 'store', connect: undefined });
  try {
    await assert.rejects(overTls.client.restricted({}), /403/, 'with mTLS the route refuses orders, which it does not list');
    assert.deepEqual((await overHttp.client.restricted({})).body, { name: 'public', n: 0 }, 'without it, the caller is nobody in particular and is not refused');
    assert.equal((await overHttp.client.echo({ body: { name: 'a', n: 1 } })).status, 200);
    const plainToSecured = createClient(benchContract, { origin: secured.origin.replace('https:', 'http:'), peer: 'store', connect: undefined, retry: { attempts: 1, baseMs: 1, capMs: 1 } });
    await assert.rejects(plainToSecured.client.echo({ body: { name: 'a', n: 1 } }), 'a service with mTLS on does not speak plain HTTP');
    await plainToSecured.close();
  } finally {
    await overTls.close();
    await overHttp.close();
    await secured.server.close();
    await plain.server.close();
  }
});

test('mtls off: internal endpoints are http, the edge and the external partner keep https', () => {
  const config = loadConfig({ POC_BENCH_DISABLE: 'mtls', POC_STORE_URL: 'https://127.0.0.1:18102' });
  assert.equal(config.endpoints.orders.url, 'http://127.0.0.1:8101');
  assert.equal(config.endpoints.integration.url, 'http://127.0.0.1:8103');
  assert.equal(config.endpoints.store.url, 'http://127.0.0.1:18102', 'a configured address keeps its host and port');
  assert.equal(config.endpoints.gateway.url, 'https://127.0.0.1:8443');
  assert.equal(config.endpoints.partner.url, 'https://127.0.0.1:8104');
});
