/**
 * The chassis over real mutual TLS: a contract-driven server and its typed client, and every way a
 * request can go wrong on the wire.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { Type } from '@sinclair/typebox';
import { contract, route, topology, Problem } from '@msa-poc/contracts';
import type { FastifyInstance } from 'fastify';
import { createClient } from './client.js';
import { UpstreamError } from './errors.js';
import { loadIdentity, tlsClientOptions, tlsServerOptions } from './identity.js';
import { ensurePki } from './pki.js';
import { Metrics } from './metrics.js';
import { createServer } from './server.js';
import { createLogger } from './telemetry.js';
import { loadConfig } from './config.js';
import { createTracing } from './tracing.js';

const Item = Type.Object({ name: Type.String({ maxLength: 20 }), n: Type.Integer() }, { additionalProperties: false });
const testContract = contract({
  service: 'store',
  version: '1.0.0',
  routes: {
    echo: route({ method: 'POST', path: '/echo', summary: 'echo', body: Item, responses: { 200: Item }, callers: ['orders'], idempotent: false }),
    flaky: route({ method: 'GET', path: '/flaky/:mode', summary: 'flaky', params: Type.Object({ mode: Type.String() }), responses: { 200: Item, 404: Problem }, callers: ['orders'], idempotent: true }),
    ordersOnlyNot: route({ method: 'GET', path: '/integration-only', summary: 'restricted', responses: { 200: Item }, callers: ['integration'], idempotent: true }),
  },
});

let home: string;
let server: FastifyInstance;
let origin: string;
let flakyCalls = 0;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'poc-server-'));
  await ensurePki({ dir: home, services: topology });
  const identity = loadIdentity(home, 'store');
  server = await createServer({
    contract: testContract,
    handlers: {
      echo: async ({ body }) => ({ status: 200 as const, body }),
      flaky: async ({ params }): Promise<never> => {
        flakyCalls++;
        if (params.mode === 'fail-twice' && flakyCalls <= 2) return { status: 503, body: { bad: true } } as never;
        if (params.mode === 'slow') await new Promise((r) => setTimeout(r, 2_000));
        if (params.mode === 'lie') return { status: 200, body: { name: 'x' } } as never;
        if (params.mode === 'missing') return { status: 404, body: { type: 'https://msa-poc.local/problems/not-found', title: 'No such resource', status: 404 } } as never;
        if (params.mode === 'crash') throw new Error('handler bug');
        return { status: 200, body: { name: params.mode, n: flakyCalls } } as never;
      },
      ordersOnlyNot: async () => ({ status: 200 as const, body: { name: 'secret', n: 0 } }),
    },
    tls: tlsServerOptions(identity, { requireClientCert: true }),
    exposure: 'internal',
    publicOrigin: 'https://127.0.0.1',
    log: createLogger('store', 'silent'),
    metrics: new Metrics('store'),
    tracer: createTracing({ service: 'store', settings: loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing }).tracer,
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  origin = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

after(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

const clientAs = (service: 'orders' | 'gateway', extra: object = {}) =>
  createClient(testContract, { origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, service), 'store'), ...extra });

/** A raw request with the orders certificate, to send what no typed client would. */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const identity = loadIdentity(home, 'orders');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${origin}${path}`, { method, ca: identity.ca, cert: identity.cert, key: identity.key, checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a typed call round-trips, and every response carries request and trace ids', async () => {
  const { client, close } = clientAs('orders');
  const reply = await client.echo({ body: { name: 'a', n: 1 } });
  assert.deepEqual(reply, { status: 200, body: { name: 'a', n: 1 }, headers: {} });
  const response = await raw('POST', '/echo', JSON.stringify({ name: 'a', n: 1 }), { 'x-request-id': 'req-12345678', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  assert.equal(response.headers['x-request-id'], 'req-12345678');
  assert.equal(response.headers['x-trace-id'], '0af7651916cd43dd8448eb211c80319c');
  await close();
});

test('bad input of every kind is a 4xx problem document, never a 5xx', async () => {
  const cases: [string, string | undefined, Record<string, string>, number][] = [
    ['{"name":"a","n":1,"extra":true}', undefined, {}, 400],
    ['{"name":"a","n":"1"}', undefined, {}, 400],
    ['{"name":"a"}', undefined, {}, 400],
    ['{"name":"a\\u0000","n":1}', undefined, {}, 400],
    ['{"name":"\\ud800","n":1}', undefined, {}, 400],
    ['{"__proto__":{"x":1},"name":"a","n":1}', undefined, {}, 400],
    ['{"constructor":{"prototype":{"x":1}},"name":"a","n":1}', undefined, {}, 400],
    ['{not json', undefined, {}, 400],
    ['', undefined, {}, 400],
    ['[1,2]', undefined, {}, 400],
    ['x'.repeat(70_000), undefined, {}, 413],
    ['name=a', undefined, { 'content-type': 'application/x-www-form-urlencoded' }, 415],
  ];
  for (const [body, , headers, status] of cases) {
    const response = await raw('POST', '/echo', body, headers);
    assert.equal(response.status, status, `${body.slice(0, 40)} → ${response.status} ${response.body.slice(0, 120)}`);
    assert.match(String(response.headers['content-type']), /application\/problem\+json/);
    const problem = JSON.parse(response.body) as { type: string; status: number; requestId: string };
    assert.equal(problem.status, status);
    assert.match(problem.type, /^https:\/\/msa-poc\.local\/problems\//);
    assert.ok(problem.requestId);
  }
  const unknown = await raw('GET', '/nope');
  assert.equal(unknown.status, 404);
  assert.match(JSON.parse(unknown.body).type, /route-not-found/);
});

test('a caller the route does not allow gets 403, whatever its certificate proves', async () => {
  const { client, close } = clientAs('orders');
  await assert.rejects(client.ordersOnlyNot({}), (error: unknown) => error instanceof UpstreamError && /403/.test(error.message));
  await close();
  const response = await raw('GET', '/integration-only');
  assert.equal(response.status, 403);
  assert.match(JSON.parse(response.body).detail, /orders may not call GET \/integration-only/);
});

test('a handler that crashes answers 500 without its error text', async () => {
  const response = await raw('GET', '/flaky/crash');
  assert.equal(response.status, 500);
  assert.doesNotMatch(response.body, /handler bug/);
});

test('idempotent calls are retried on 5xx; the answer is validated against the contract', async () => {
  flakyCalls = 0;
  const { client, close } = clientAs('orders', { retry: { attempts: 3, baseMs: 1, capMs: 5 } });
  const reply = await client.flaky({ params: { mode: 'fail-twice' } });
  assert.equal(reply.status, 200);
  assert.equal(flakyCalls, 3);
  const missing = await client.flaky({ params: { mode: 'missing' } });
  assert.equal(missing.status, 404);
  // A handler that breaks its own contract cannot send the answer: the serializer refuses it.
  await assert.rejects(client.flaky({ params: { mode: 'lie' } }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 502 && /500/.test(error.message));
  await close();
});

test('the client validates what it receives: a peer answering outside the contract is a 502', async () => {
  const identity = loadIdentity(home, 'store');
  const liar = createHttpsServer({ ...tlsServerOptions(identity, { requireClientCert: true }) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"x","n":"not a number"}');
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  const address = liar.address();
  const handle = createClient(testContract, { origin: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store') });
  await assert.rejects(handle.client.flaky({ params: { mode: 'x' } }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 502 && /outside its contract: \/n/.test(error.message));
  await handle.close();
  liar.closeAllConnections();
  await new Promise((resolve) => liar.close(resolve));
});

test('a deadline turns a slow answer into 504 and the breaker opens after repeated failures', async () => {
  const { client, close, breaker } = clientAs('orders', { retry: { attempts: 1, baseMs: 1, capMs: 1 }, breaker: { failureThreshold: 2, openMs: 60_000 } });
  // The echo operation has its own breaker: it stays closed while flaky's opens.
  await assert.rejects(client.flaky({ params: { mode: 'slow' } }, { timeoutMs: 100 }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 504);
  await assert.rejects(client.flaky({ params: { mode: 'slow' } }, { timeoutMs: 100 }), UpstreamError);
  assert.equal(breaker('flaky').state, 'open');
  assert.equal(breaker('echo').state, 'closed');
  assert.equal((await client.echo({ body: { name: 'still', n: 1 } })).status, 200, 'another operation of the same peer still works');
  const started = Date.now();
  await assert.rejects(client.flaky({ params: { mode: 'fast' } }), (error: unknown) => error instanceof UpstreamError && /circuit is open/.test(error.message));
  assert.ok(Date.now() - started < 50, 'an open circuit fails fast');
  await close();
});

test('a call the caller abandons rejects at once with its reason, retries none, and opens no circuit', async () => {
  const { client, close, breaker } = clientAs('orders', { retry: { attempts: 3, baseMs: 1, capMs: 1 }, breaker: { failureThreshold: 1, openMs: 60_000 } });
  const before = flakyCalls;
  const stopping = new AbortController();
  const started = Date.now();
  const pending = client.flaky({ params: { mode: 'slow' } }, { timeoutMs: 5_000, signal: stopping.signal });
  setTimeout(() => stopping.abort(new Error('service stopping')), 100);
  await assert.rejects(pending, /service stopping/);
  assert.ok(Date.now() - started < 1_500, `rejected after ${Date.now() - started} ms, not when the slow answer came`);
  assert.equal(flakyCalls - before, 1, 'an abandoned call is not retried');
  assert.equal(breaker('flaky').state, 'closed', 'leaving is not a failure of the peer');
  await assert.rejects(client.flaky({ params: { mode: 'fast' } }, { signal: stopping.signal }), /service stopping/, 'an already abandoned call is not sent');
  assert.equal(flakyCalls - before, 1);
  await close();
});

test('a client with a certificate for the wrong peer refuses the server', async () => {
  const handle = createClient(testContract, { origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'orders'), retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  await assert.rejects(handle.client.echo({ body: { name: 'a', n: 1 } }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 503);
  await handle.close();
});

test('the service serves its OpenAPI 3.1 document', async () => {
  const response = await raw('GET', '/openapi.json');
  const document = JSON.parse(response.body) as { openapi: string; paths: Record<string, unknown> };
  assert.equal(document.openapi, '3.1.0');
  assert.ok(document.paths['/flaky/{mode}']);
});
