import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePki } from '@msa-poc/platform/pki';
import { HttpTransport, HttpTransportError } from './http.js';
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

interface RawRequest { readonly method: string; readonly path: string; readonly head: string; readonly body: string; readonly socket: Socket; readonly connection: number; readonly nth: number }

/**
 * A bare TCP server that reads requests (Content-Length bodies) and lets `answer` write whatever
 * bytes it likes: the odd cases an HTTP server library would not produce.
 */
async function rawServer(t: TestContext, answer: (request: RawRequest) => void): Promise<Served> {
  let connections = 0;
  let received = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    let nth = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const body = pending.toString('utf8', end + 4, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        const [method = '', path = ''] = head.split(' ');
        received++;
        answer({ method, path, head, body, socket, connection, nth: ++nth });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, received: () => received };
}

/** Writes `bytes` a few at a time, each piece in a packet of its own. */
async function trickle(socket: Socket, bytes: string | Buffer, piece = 1): Promise<void> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  socket.setNoDelay(true);
  for (let offset = 0; offset < data.length && !socket.destroyed; offset += piece) {
    socket.write(data.subarray(offset, offset + piece));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const failure = (promise: Promise<unknown>): Promise<HttpTransportError> => promise.then(
  () => assert.fail('the request should have failed'),
  (error: unknown) => {
    assert.ok(error instanceof HttpTransportError, `an HttpTransportError, got ${String(error)}`);
    return error;
  },
);

test('responses split across packets anywhere, chunked with extensions and trailers, and an interim 100 come back whole', async (t) => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n5;name=value\r\nhello\r\n1A \r\n, chunked and split apart!\r\n0\r\nX-Trailer: ignored\r\n\r\n';
  const sized = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 12\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello, sized';
  const server = await rawServer(t, ({ path, socket }) => {
    if (path === '/chunked') void trickle(socket, chunked);
    else if (path === '/sized') void trickle(socket, sized, 3);
    else socket.write(sized + chunked); // two answers' worth in one packet, for two requests in turn
  });
  const client = transport(t, server.origin, { connections: 1 });
  const first = await client.send({ method: 'GET', path: '/chunked' });
  assert.equal(first.status, 200);
  assert.equal(first.text(), 'hello, chunked and split apart!');
  assert.equal(first.headers['x-kind'], 'chunked');
  const second = await client.send({ method: 'GET', path: '/sized' });
  assert.equal(second.status, 201);
  assert.equal(second.text(), 'hello, sized');
  assert.deepEqual(second.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(server.connections(), 1, 'both on one kept-alive connection');
  const third = await client.send({ method: 'GET', path: '/both' });
  assert.equal(third.text(), 'hello, sized');
  const afterwards = await client.send({ method: 'GET', path: '/sized' });
  assert.equal(afterwards.text(), 'hello, sized');
  assert.equal(server.connections(), 2, 'bytes after an answer that no request asked for close the connection');
});

test('large bodies arriving over many reads on several connections at once stay intact', async (t) => {
  const bodies = Array.from({ length: 4 }, (_, index) => Buffer.alloc(300_000 + index * 7_001, `${index}-0123456789abcdef`));
  const server = await rawServer(t, ({ path, socket }) => {
    const body = bodies[Number(path.slice(1))]!;
    if (path === '/3') socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`, 'latin1');
    else socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
  });
  const client = transport(t, server.origin, { connections: 4 });
  const responses = await Promise.all(bodies.map((_, index) => client.send({ method: 'GET', path: `/${index}` })));
  responses.forEach((response, index) => assert.ok(response.body.equals(bodies[index]!), `body ${index} intact`));
});

test('HEAD, 204 and 304 answers have no body whatever their headers say; a body without length runs to the close', async (t) => {
  const server = await rawServer(t, ({ method, path, socket }) => {
    if (method === 'HEAD') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    else if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n');
    else if (path === '/to-close') socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
  });
  const client = transport(t, server.origin, { connections: 1 });
  for (const [method, path, status] of [['HEAD', '/', 200], ['GET', '/204', 204], ['GET', '/304', 304]] as const) {
    const response = await client.send({ method, path });
    assert.equal(response.status, status);
    assert.equal(response.body.length, 0, `${method} ${path}`);
  }
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'hello', 'the next answer on the same connection is read right');
  assert.equal(server.connections(), 1);
  assert.equal((await client.send({ method: 'GET', path: '/to-close' })).text(), 'until the end');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'hello');
  assert.equal(server.connections(), 2);
});

test('Connection: close and an HTTP/1.0 answer without keep-alive are honoured: the next request opens a new connection', async (t) => {
  const server = await rawServer(t, ({ path, socket }) => {
    if (path === '/close') socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye'); // and leaves it open
    else if (path === '/old') socket.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = transport(t, server.origin, { connections: 1 });
  assert.equal((await client.send({ method: 'GET', path: '/close' })).text(), 'bye');
  assert.equal((await client.send({ method: 'GET', path: '/old' })).text(), 'old');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  assert.equal(server.connections(), 3);
});

test('a kept-alive connection the server dropped is replaced without failing a GET or a POST with an Idempotency-Key; a plain POST fails', async (t) => {
  const server = await rawServer(t, ({ socket, nth, method, body }) => {
    // Every connection serves one request, then is found closed by the next (the keep-alive race).
    if (nth > 1) return void socket.destroy();
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${method.length + body.length}\r\n\r\n${method}${body}`);
  });
  const client = transport(t, server.origin, { connections: 1 });
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'GET');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'GET', 'sent again on a fresh connection');
  assert.equal((await client.send({ method: 'POST', path: '/orders', body: '{}', headers: { 'Idempotency-Key': 'k1' } })).text(), 'POST{}');
  assert.equal(server.connections(), 3);
  const error = await failure(client.send({ method: 'POST', path: '/orders', body: '{}' }));
  assert.equal(error.code, 'ECONNRESET');
  assert.equal(classifyError(error), 'connection');
  assert.match(error.message, new RegExp(`connection to ${server.origin} closed before any of the response came`));
  assert.equal(server.received(), 6, 'the plain POST was sent once only');

  const fresh = await rawServer(t, ({ socket }) => socket.destroy());
  const once = transport(t, fresh.origin);
  await failure(once.send({ method: 'GET', path: '/' }));
  assert.equal(fresh.received(), 1, 'a request that failed on a new connection is not sent again');
});

test('a connection reset in the middle of a body fails the request naming the origin and the bytes received', async (t) => {
  const server = await rawServer(t, ({ path, socket }) => {
    if (path === '/chunked') socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part');
    setTimeout(() => socket.resetAndDestroy(), 10);
  });
  const client = transport(t, server.origin, { connections: 1 });
  for (const path of ['/', '/chunked']) {
    const error = await failure(client.send({ method: 'GET', path }));
    assert.equal(classifyError(error), 'connection');
    assert.equal(error.origin, server.origin);
    assert.match(error.message, new RegExp(`connection to ${server.origin} closed after \\d+ bytes of the response, before its end`));
  }
  assert.equal(server.received(), 2, 'a request with part of its answer received is not sent again');
});

test('a malformed answer fails its request with what was wrong and closes the connection', async (t) => {
  const answers: Record<string, string> = {
    '/status': 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n',
    '/protocol': 'SPDY/3 200 OK\r\n\r\n',
    '/header': 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
    '/fold': 'HTTP/1.1 200 OK\r\nX-A: b\r\n  folded\r\n\r\n',
    '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello',
    '/both': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    '/chunk-size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    '/chunk-overrun': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n',
    '/switch': 'HTTP/1.1 101 Switching Protocols\r\n\r\n',
  };
  const server = await rawServer(t, ({ path, socket }) => void socket.write(answers[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  const client = transport(t, server.origin, { connections: 1 });
  for (const path of Object.keys(answers)) {
    const error = await failure(client.send({ method: 'GET', path }));
    assert.equal(error.code, 'HTTP_MALFORMED_RESPONSE', path);
    assert.match(error.message, new RegExp(`^${server.origin} sent a malformed response \\(.+\\); the connection was closed$`));
  }
  assert.equal(classifyError(new HttpTransportError('x', 'HTTP_MALFORMED_RESPONSE', server.origin)), 'other');
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  assert.equal(server.connections(), Object.keys(answers).length + 1, 'each malformed answer cost its connection');
});

test('headers, a body or trailers beyond the limits fail the request and close the connection', async (t) => {
  const big = 'x'.repeat(20_000);
  const answers: Record<string, string> = {
    '/headers': `HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nContent-Length: 0\r\n\r\n`,
    '/unterminated': `HTTP/1.1 200 OK\r\nX-Big: ${big}`,
    '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n',
    '/chunked': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${'y'.repeat(1024)}\r\n400\r\n`,
    '/trailers': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${big}\r\n\r\n`,
    '/to-close': `HTTP/1.1 200 OK\r\n\r\n${'z'.repeat(1500)}`,
  };
  const server = await rawServer(t, ({ path, socket }) => void socket.write(answers[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  const client = transport(t, server.origin, { connections: 1, maxBodyBytes: 1024 });
  for (const path of Object.keys(answers)) {
    const error = await failure(client.send({ method: 'GET', path }));
    assert.equal(error.code, 'HTTP_RESPONSE_TOO_LARGE', path);
    assert.match(error.message, /larger than|more than/, path);
    assert.match(error.message, /maxHeaderBytes or maxBodyBytes/, path);
  }
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
});

test('a request cancelled in flight closes its connection; close() fails what waits, lets what is in flight finish and sends nothing more', async (t) => {
  const server = await rawServer(t, ({ path, socket }) => {
    if (path === '/slow') setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 50);
    else if (path !== '/hold') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpTransport(server.origin, { connections: 1 });
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  await assert.rejects(client.send({ method: 'GET', path: '/hold', timeoutMs: 20 }), { name: 'TimeoutError' });
  assert.equal((await client.send({ method: 'GET', path: '/' })).text(), 'ok');
  assert.equal(server.connections(), 2, 'the connection of the request that timed out was not reused');

  const inFlight = client.send({ method: 'GET', path: '/slow' });
  const waiting = client.send({ method: 'GET', path: '/' });
  await new Promise((resolve) => setTimeout(resolve, 10));
  const closed = client.close();
  const refused = await failure(waiting);
  assert.equal(refused.code, 'HTTP_TRANSPORT_CLOSED');
  assert.match(refused.message, new RegExp(`transport to ${server.origin} was closed before it was sent`));
  assert.equal((await inFlight).text(), 'slow');
  await closed;
  assert.equal((await failure(client.send({ method: 'GET', path: '/' }))).code, 'HTTP_TRANSPORT_CLOSED');
  assert.equal(server.received(), 4);
});

test('an idle connection is dropped before the Keep-Alive timeout the server announced', async (t) => {
  const server = await rawServer(t, ({ socket }) => {
    socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok');
    setTimeout(() => socket.destroy(), 1000); // as the server said, but with no time to spare
  });
  const client = transport(t, server.origin, { connections: 1 });
  assert.equal((await client.send({ method: 'POST', path: '/', body: 'x' })).text(), 'ok');
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal((await client.send({ method: 'POST', path: '/', body: 'x' })).text(), 'ok', 'a POST, which is never sent twice, finds a fresh connection');
  assert.equal(server.connections(), 2);
});

test('requests are framed as HTTP/1.1 wants and a header or path that would break the framing is refused before anything is sent', async (t) => {
  const heads: string[] = [];
  const server = await rawServer(t, ({ head, body, socket }) => {
    heads.push(`${head}|${body}`);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const client = transport(t, server.origin, { connections: 1 });
  await client.send({ method: 'POST', path: '/a?b=c', headers: { 'x-one': '1' }, body: 'héllo' });
  await client.send({ method: 'POST', path: '/empty' });
  await client.send({ method: 'GET', path: '/host', headers: { Host: 'example.test' } });
  const host = new URL(server.origin).host;
  assert.deepEqual(heads, [
    `POST /a?b=c HTTP/1.1\r\nhost: ${host}\r\nx-one: 1\r\ncontent-length: 6|héllo`,
    `POST /empty HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 0|`,
    'GET /host HTTP/1.1\r\nHost: example.test|',
  ]);
  await assert.rejects(client.send({ method: 'GET', path: '/', headers: { 'x-evil': 'a\r\nx-injected: 1' } }), /header x-evil holds a character/);
  await assert.rejects(client.send({ method: 'GET', path: '/a b' }), /must start with \/ and hold only visible ASCII/);
  await assert.rejects(client.send({ method: 'GET', path: 'relative' }), /must start with \//);
  await assert.rejects(client.send({ method: 'GET ', path: '/' }), /is not an HTTP method/);
  await assert.rejects(client.send({ method: 'POST', path: '/', body: 'abc', headers: { 'content-length': '2' } }), /does not match the body's 3 bytes/);
  assert.equal(server.received(), 3);
});

test('connecting to nothing names the origin; an https origin checks the certificate against the CA given', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const client = transport(t, `http://127.0.0.1:${port}`, { connections: 2 });
  const errors = await Promise.all(Array.from({ length: 5 }, () => failure(client.send({ method: 'GET', path: '/' }))));
  for (const error of errors) {
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(error.message, new RegExp(`^could not connect to http://127.0.0.1:${port}: `));
  }

  const root = await mkdtemp(join(tmpdir(), 'msa-poc-http-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await ensurePki({ dir: join(root, 'one'), services: [{ name: 'gateway', exposure: 'public' }] });
  await ensurePki({ dir: join(root, 'other'), services: [{ name: 'gateway', exposure: 'public' }] });
  const [key, cert, ca, otherCa] = await Promise.all(['one/gateway.key', 'one/gateway.crt', 'one/ca.crt', 'other/ca.crt'].map((file) => readFile(join(root, file), 'utf8')));
  const secure = await serve(t, (_req, res) => res.end('secure'), { key: key!, cert: cert! });
  assert.equal((await transport(t, secure.origin, { ca: ca! }).send({ method: 'GET', path: '/' })).text(), 'secure');
  const refused = await failure(transport(t, secure.origin, { ca: otherCa! }).send({ method: 'GET', path: '/' }));
  assert.match(`${refused.code} ${refused.message}`, /certificate/i);
  assert.match(refused.message, new RegExp(`could not connect to ${secure.origin}`));
  assert.equal(secure.received(), 1, 'nothing was sent to the server another CA vouches for');
});

test('a connection the server closed while idle is not given the next request, a POST included; destroy() fails what is in flight', async (t) => {
  const server = await rawServer(t, ({ path, socket }) => {
    if (path === '/hold') return;
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    setTimeout(() => socket.end(), 20); // an idle timeout shorter than the client's, announced nowhere
  });
  const client = new HttpTransport(server.origin, { connections: 2 });
  assert.equal((await client.send({ method: 'POST', path: '/', body: 'a' })).text(), 'ok');
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal((await client.send({ method: 'POST', path: '/', body: 'b' })).text(), 'ok');
  assert.equal(server.received(), 2, 'sent once each');
  assert.equal(server.connections(), 2);

  const inFlight = failure(client.send({ method: 'GET', path: '/hold' }));
  await new Promise((resolve) => setTimeout(resolve, 10));
  await client.destroy();
  const error = await inFlight;
  assert.equal(error.code, 'HTTP_TRANSPORT_CLOSED');
  assert.match(error.message, /closed while it was in flight/);
});
