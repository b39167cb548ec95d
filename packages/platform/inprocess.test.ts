/**
 * The in-process transport: a co-located caller reaches the callee's server without a socket and
 * meets the same contract, allow-list, deadlines and spans as over mutual TLS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { contract, route, topology } from '@msa-poc/contracts';
import type { FastifyInstance } from 'fastify';
import { createClient } from './client.js';
import { UpstreamError } from './errors.js';
import { loadIdentity, tlsServerOptions } from './identity.js';
import { ComponentRegistry } from './inprocess.js';
import { ensurePki } from './pki.js';
import { Metrics } from './metrics.js';
import { createServer, localCallerHeader } from './server.js';
import { createLogger } from './telemetry.js';
import { loadConfig } from './config.js';
import { createTracing, InMemorySpanExporter, type Tracing } from './tracing.js';

const Item = Type.Object({ name: Type.String({ maxLength: 20 }), n: Type.Integer() }, { additionalProperties: false });
const storeLike = contract({
  service: 'store',
  version: '1.0.0',
  routes: {
    echo: route({ method: 'POST', path: '/echo', summary: 'echo', body: Item, responses: { 200: Item }, callers: ['orders'], idempotent: false }),
    lie: route({ method: 'GET', path: '/lie', summary: 'answers outside its contract', responses: { 200: Item }, callers: ['orders'], idempotent: false }),
    slow: route({ method: 'GET', path: '/slow', summary: 'slow', responses: { 200: Item }, callers: ['orders'], idempotent: false }),
  },
});

let home: string;
let server: FastifyInstance;
const registry = new ComponentRegistry(['store', 'orders', 'gateway']);
const spans = new InMemorySpanExporter();
let callerTracing: Tracing;
let calleeTracing: Tracing;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'poc-inprocess-'));
  await ensurePki({ dir: home, services: topology });
  const settings = loadConfig({}).tracing;
  calleeTracing = createTracing({ service: 'store', settings, exporter: spans });
  callerTracing = createTracing({ service: 'orders', settings, exporter: spans });
  server = await createServer({
    contract: storeLike,
    handlers: {
      echo: async ({ body, caller }) => ({ status: 200 as const, body: { name: caller.kind === 'service' ? caller.service : body.name, n: body.n } }),
      lie: async () => ({ status: 200, body: { name: 'x' } }) as never,
      slow: async () => {
        await new Promise((r) => setTimeout(r, 1_000));
        return { status: 200 as const, body: { name: 'late', n: 0 } };
      },
    },
    tls: tlsServerOptions(loadIdentity(home, 'store'), { requireClientCert: true }),
    exposure: 'internal',
    publicOrigin: 'https://127.0.0.1',
    log: createLogger('store', 'silent'),
    metrics: new Metrics('store'),
    tracer: calleeTracing.tracer,
    localCallers: registry,
  });
  registry.register('store', server);
});

after(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

const clientAs = (caller: 'orders' | 'gateway') =>
  createClient(storeLike, { origin: 'https://127.0.0.1:1', peer: 'store', transport: registry.transport('store', caller), tracer: callerTracing.tracer, retry: { attempts: 1, baseMs: 1, capMs: 1 } });

test('an in-process call reaches the handler as the calling component, and both spans say inproc', async () => {
  spans.reset();
  const { client } = clientAs('orders');
  const reply = await client.echo({ body: { name: 'a', n: 7 } });
  assert.deepEqual(reply.body, { name: 'orders', n: 7 }, 'the handler sees the caller the registry vouched for');
  await Promise.all([callerTracing.flush(), calleeTracing.flush()]);
  const clientSpan = spans.getFinishedSpans().find((s) => s.name === 'POST /echo' && s.kind === 2);
  const serverSpan = spans.getFinishedSpans().find((s) => s.name === 'POST /echo' && s.kind === 1);
  assert.ok(clientSpan && serverSpan, 'a client span and a server span');
  assert.equal(clientSpan.attributes['msa.transport'], 'inproc');
  assert.equal(serverSpan.spanContext().traceId, clientSpan.spanContext().traceId, 'one trace across the call');
  assert.equal(serverSpan.parentSpanContext?.spanId, clientSpan.spanContext().spanId, 'the server span hangs under the client span');
});

test('the callee validates the request and the caller validates the answer, as over the network', async () => {
  const { client } = clientAs('orders');
  await assert.rejects(
    client.echo({ body: { name: 'x'.repeat(30), n: 1 } }),
    (error: unknown) => error instanceof UpstreamError && /400/.test(error.message) && /name/.test(error.message),
  );
  await assert.rejects(client.lie({}), (error: unknown) => error instanceof UpstreamError && error.problem.status === 502);
});

test("a co-located component the contract does not allow is refused by the callee's allow-list", async () => {
  const { client } = clientAs('gateway');
  await assert.rejects(client.echo({ body: { name: 'a', n: 1 } }), (error: unknown) => error instanceof UpstreamError && /403/.test(error.message) && /gateway may not call POST \/echo/.test(error.message));
});

test('a local-caller header the registry did not issue names no one', async () => {
  const response = await server.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json', [localCallerHeader]: 'orders' }, payload: JSON.stringify({ name: 'a', n: 1 }) });
  assert.equal(response.statusCode, 403);
  assert.match(response.json<{ detail: string }>().detail, /no service identity/);
});

test('the deadline holds in-process: a slow callee is a 504 within the budget', async () => {
  const { client } = clientAs('orders');
  const started = Date.now();
  await assert.rejects(client.slow({}, { timeoutMs: 150 }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 504);
  assert.ok(Date.now() - started < 900, `gave up after ${Date.now() - started} ms, not when the callee answered`);
});

test('an in-process call the caller abandons stops waiting at once', async () => {
  const { client } = clientAs('orders');
  const stopping = new AbortController();
  const started = Date.now();
  setTimeout(() => stopping.abort(new Error('service stopping')), 50);
  await assert.rejects(client.slow({}, { timeoutMs: 5_000, signal: stopping.signal }), /service stopping/);
  assert.ok(Date.now() - started < 900, `rejected after ${Date.now() - started} ms, not when the callee answered`);
});

test('a component that is not serving (yet, or any more) is unavailable, not a crash', async () => {
  const lonely = new ComponentRegistry(['store', 'orders']);
  const handle = createClient(storeLike, { origin: 'https://127.0.0.1:1', peer: 'store', transport: lonely.transport('store', 'orders'), retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  await assert.rejects(handle.client.echo({ body: { name: 'a', n: 1 } }), (error: unknown) => error instanceof UpstreamError && error.problem.status === 503 && /not serving in this process/.test(error.message));
  await assert.rejects(handle.ping(), /not serving/);
  assert.throws(() => lonely.transport('gateway', 'orders'), /does not run in this process/);
});
