import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePki } from '@msa-poc/platform/pki';
import { HttpTransport } from './http.js';
import { classifyError } from './load.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Served { readonly origin: string; readonly connections: () => number; readonly received: () => number }

/** A local server counting the connections it accepted and the requests it read; closed after the test. */
async function serve(t: TestContext, handler: Handler, tls?: { readonly key: string; readonly cert: string }): Promise<Served> {
  let connections = 0;
  let received = 0;
  const listener: Handler = (req, res) => {
    received++;
    handler(req, res);
  };
  const server: Server = tls ? createTlsServer(tls, listener) : createServer(listener);
  server.on(tls ? 'secureConnection' : 'connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { origin: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, received: () => received };
}

function transport(t: TestContext, origin: string, options: ConstructorParameters<typeof HttpTransport>[1] = {}): HttpTransport {
  const client = new HttpTransport(origin, options);
  t.after(() => client.destroy());
  return client;
}

const readBody = async (req: IncomingMessage): Promise<string> => {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
};

test('sends method, path, headers and body; returns status, headers (repeated ones as arrays) and the whole body', async (t) => {
  const server = await serve(t, async (req, res) => {
    const body = await readBody(req);
    res.statusCode = 201;
    res.setHeader('content-type', 'application/json');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('X-Echo-Header', String(req.headers['x-test']));
    res.end(JSON.stringify({ method: req.method, url: req.url, body, type: req.headers['content-type'] }));
  });
  const client = transport(t, server.origin);
  const response = await client.send({ method: 'POST', path: '/orders?x=1', headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body: '{"n":1}' });
  assert.equal(response.status, 201);
  assert.equal(response.headers['content-type'], 'application/json');
  assert.equal(response.headers['x-echo-header'], 'yes', 'names are lower-case');
  assert.deepEqual(response.headers['set-cookie'], ['a=1', 'b=2']);
  assert.deepEqual(JSON.parse(response.text()), { method: 'POST', url: '/orders?x=1', body: '{"n":1}', type: 'application/json' });
  const empty = await client.send({ method: 'DELETE', path: '/nothing' });
  assert.equal(empty.status, 201);
  assert.equal(empty.body.length > 0, true);
});

test('a chunked body arriving in pieces comes back whole; an empty body is empty', async (t) => {
  const pieces = Array.from({ length: 50 }, (_, index) => `piece ${index};`);
  const server = await serve(t, (req, res) => {
    if (req.url === '/empty') return void res.writeHead(204).end();
    res.writeHead(200, { 'content-type': 'text/plain' });
    let index = 0;
    const next = (): void => {
      if (index === pieces.length) return void res.end();
      res.write(pieces[index++]);
      setImmediate(next);
    };
    next();
  });
  const client = transport(t, server.origin);
  const response = await client.send({ method: 'GET', path: '/' });
  assert.equal(response.headers['transfer-encoding'], 'chunked');
  assert.equal(response.text(), pieces.join(''));
  const empty = await client.send({ method: 'GET', path: '/empty' });
  assert.equal(empty.status, 204);
  assert.equal(empty.body.length, 0);
});

test('connections are kept alive and reused, never more than allowed', async (t) => {
  const server = await serve(t, (_req, res) => setTimeout(() => res.end('ok'), 5));
  const single = transport(t, server.origin, { connections: 1 });
  for (let index = 0; index < 10; index++) assert.equal((await single.send({ method: 'GET', path: '/' })).status, 200);
  assert.equal(server.connections(), 1, 'sequential requests share one connection');
  const three = transport(t, server.origin, { connections: 3 });
  const statuses = await Promise.all(Array.from({ length: 30 }, () => three.send({ method: 'GET', path: '/' }).then((response) => response.status)));
  assert.deepEqual(new Set(statuses), new Set([200]));
  assert.equal(server.connections(), 1 + 3, 'concurrent requests wait for one of the 3 connections');
  assert.equal(server.received(), 40);
});

test('a server closing the connection after its answer or in the middle of one: the next request opens a new one; the broken one is a connection error', async (t) => {
  const server = await serve(t, (req, res) => {
    if (req.url === '/close') return void res.setHeader('connection', 'close').end('bye');
    if (req.url === '/drop') return void req.socket.destroy();
    if (req.url === '/half') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part');
      return void setTimeout(() => req.socket.destroy(), 10);
    }
    res.end('ok');
  });
  const client = transport(t, server.origin, { connections: 1 });
  assert.equal((await client.send({ method: 'GET', path: '/close' })).text(), 'bye');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  assert.equal(server.connections(), 2);
  for (const path of ['/drop', '/half']) {
    const error = await client.send({ method: 'GET', path }).then(() => undefined, (failure: unknown) => failure);
    assert.ok(error instanceof Error, `${path} fails`);
    assert.equal(classifyError(error), 'connection', `${path}: ${String(error)}`);
  }
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok', 'the transport recovers');
});

test('a refused connection is a connection error', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const client = transport(t, `http://127.0.0.1:${port}`);
  const error = await client.send({ method: 'GET', path: '/' }).then(() => undefined, (failure: unknown) => failure);
  assert.equal((error as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(classifyError(error), 'connection');
});

test('a timeout, an aborted signal or a cancel hook fails the request with its reason and frees the connection; an aborted signal sends nothing', async (t) => {
  const held: ServerResponse[] = [];
  const server = await serve(t, (req, res) => {
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  const client = transport(t, server.origin, { connections: 1 });
  const timedOut = await client.send({ method: 'GET', path: '/hold', timeoutMs: 50 }).then(() => undefined, (failure: unknown) => failure);
  assert.equal((timedOut as Error).name, 'TimeoutError');
  assert.match((timedOut as Error).message, /50 ms/);
  assert.equal(classifyError(timedOut), 'timeout');

  const controller = new AbortController();
  const pending = client.send({ method: 'GET', path: '/hold', signal: controller.signal });
  setTimeout(() => controller.abort(new Error('stopped by the test')), 30);
  await assert.rejects(pending, /stopped by the test/);

  let cancel: ((reason: unknown) => void) | undefined;
  const hooked = client.send({ method: 'GET', path: '/hold', cancelledBy: { onCancel: (callback) => { cancel = callback; } } });
  setTimeout(() => cancel?.(new Error('cancelled through the hook')), 30);
  await assert.rejects(hooked, /cancelled through the hook/);

  const queued = new AbortController();
  const blocker = client.send({ method: 'GET', path: '/hold', timeoutMs: 200 }).catch((failure: unknown) => failure);
  const waiting = client.send({ method: 'GET', path: '/', signal: queued.signal });
  queued.abort(new Error('given up while queued'));
  await assert.rejects(waiting, /given up while queued/);
  assert.equal(classifyError(await blocker), 'timeout');

  const before = server.received();
  await assert.rejects(client.send({ method: 'GET', path: '/', signal: AbortSignal.abort(new Error('already aborted')) }), /already aborted/);
  await assert.rejects(client.send({ method: 'GET', path: '/', cancelledBy: { onCancel: (callback) => callback(new Error('already cancelled')) } }), /already cancelled/);
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok', 'the one connection is free again');
  assert.equal(server.received(), before + 1, 'the aborted and the cancelled request were never sent');
  for (const res of held) res.destroy();
});

test('https with the CA that issued the server certificate; an unknown CA is refused', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'msa-poc-http-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'pki');
  await ensurePki({ dir, services: [{ name: 'gateway', exposure: 'public' }] });
  const [key, cert, ca] = await Promise.all(['gateway.key', 'gateway.crt', 'ca.crt'].map((file) => readFile(join(dir, file), 'utf8')));
  const server = await serve(t, (req, res) => res.end(`secure ${String((req.socket as Socket & { encrypted?: boolean }).encrypted)}`), { key: key!, cert: cert! });
  assert.match(server.origin, /^https:/);
  const trusting = transport(t, server.origin, { ca: ca!, connections: 1 });
  assert.equal((await trusting.send({ method: 'GET', path: '/' })).text(), 'secure true');
  assert.equal((await trusting.send({ method: 'GET', path: '/' })).text(), 'secure true');
  assert.equal(server.connections(), 1, 'one TLS handshake for both');
  const untrusting = transport(t, server.origin);
  await assert.rejects(untrusting.send({ method: 'GET', path: '/' }), (error: Error & { code?: string }) => /certificate/i.test(`${error.code} ${error.message}`));
});

test('an origin that is not http or https is refused up front', () => {
  assert.throws(() => new HttpTransport('ftp://127.0.0.1:21'), /http or https origin/);
});
