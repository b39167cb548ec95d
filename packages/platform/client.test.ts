/**
 * The network transport of a typed client, over plain HTTP to a bare node server: an answer comes
 * back typed, a callee that does not answer in time is a deadline problem, one that cannot be
 * reached is an unavailable problem.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { contract, route } from '@msa-poc/contracts';
import { createClient } from './client.js';
import { UpstreamError } from './errors.js';

const itemContract = contract({
  service: 'store',
  version: '1.0.0',
  routes: {
    getItem: route({ method: 'GET', path: '/items/:id', summary: 'an item', params: Type.Object({ id: Type.String() }), responses: { 200: Type.Object({ id: Type.String() }, { additionalProperties: false }) }, callers: ['orders'], idempotent: true }),
  },
});

let server: Server;
let origin: string;
before(async () => {
  server = createServer((request, response) => {
    // "slow" never answers: the client's deadline has to end the call.
    if (request.url === '/items/slow') return;
    // "trickle" answers at once, then sends its body a byte every 100 ms for 2 s: each wait is short,
    // the whole is not, and the deadline bounds the whole.
    if (request.url === '/items/trickle') {
      response.writeHead(200, { 'content-type': 'application/json' });
      const body = JSON.stringify({ id: 'trickle'.padEnd(20, '.') });
      let sent = 0;
      const timer = setInterval(() => {
        if (response.destroyed || sent >= body.length) {
          clearInterval(timer);
          if (!response.destroyed) response.end();
          return;
        }
        response.write(body[sent++]);
      }, 100);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: decodeURIComponent(request.url!.split('/').pop()!) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a call over the network comes back as the callee answered it', async () => {
  const handle = createClient(itemContract, { origin, peer: 'store' });
  try {
    const reply = await handle.client.getItem({ params: { id: 'a b' } });
    assert.deepEqual(reply, { status: 200, body: { id: 'a b' }, headers: reply.headers });
    await handle.ping();
  } finally {
    await handle.close();
  }
});

test('a callee that does not answer within the deadline is a 504 problem naming it, after the retries', async () => {
  const handle = createClient(itemContract, { origin, peer: 'store', retry: { attempts: 2, baseMs: 1, capMs: 1 } });
  try {
    await assert.rejects(handle.client.getItem({ params: { id: 'slow' } }, { timeoutMs: 300 }), (error: unknown) => {
      assert.ok(error instanceof UpstreamError, `an UpstreamError, not ${String(error)}`);
      assert.equal(error.status, 504);
      assert.match(error.message, /store did not answer getItem within \d+ ms/);
      return true;
    });
  } finally {
    await handle.close();
  }
});

test('an answer whose body takes longer than the deadline is a 504 problem, though each byte came in time', async () => {
  const handle = createClient(itemContract, { origin, peer: 'store', retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  try {
    const started = Date.now();
    await assert.rejects(handle.client.getItem({ params: { id: 'trickle' } }, { timeoutMs: 400 }), (error: unknown) => {
      assert.ok(error instanceof UpstreamError, `an UpstreamError, not ${String(error)}`);
      assert.ok(error.status === 504 || error.status === 503, `status ${error.status}: ${error.message}`);
      return true;
    });
    assert.ok(Date.now() - started < 1_500, `gave up after ${Date.now() - started} ms; the body takes 2 s`);
  } finally {
    await handle.close();
  }
});

test('a callee that cannot be reached is a 503 problem naming it', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const handle = createClient(itemContract, { origin: `http://127.0.0.1:${port}`, peer: 'store', retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  try {
    await assert.rejects(handle.client.getItem({ params: { id: 'a' } }), (error: unknown) => {
      assert.ok(error instanceof UpstreamError, `an UpstreamError, not ${String(error)}`);
      assert.equal(error.status, 503);
      assert.match(error.message, /cannot reach store for getItem: .*ECONNREFUSED/);
      return true;
    });
  } finally {
    await handle.close();
  }
});
