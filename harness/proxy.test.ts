import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { ensurePki } from '@msa-poc/platform/pki';
import { startFaultProxy } from './proxy.js';
import type { FaultProxy, FaultProxyOptions } from './proxy.js';

const host = '127.0.0.1';

// --- helpers -----------------------------------------------------------------------------------------

/** Rejects when `promise` has not settled within `ms`, so no test can hang. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Starts a TCP server on a free port; closing it also destroys every socket it accepted. */
async function serve(t: TestContext, handler: (socket: Socket) => void, options: net.ServerOpts = {}): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = net.createServer(options, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    handler(socket);
  });
  server.listen(0, host);
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

const echo = (t: TestContext): ReturnType<typeof serve> => serve(t, (socket) => socket.pipe(socket));

async function proxyTo(t: TestContext, port: number, extra: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ upstream: { host, port }, ...extra });
  t.after(() => proxy.close());
  return proxy;
}

async function connect(t: TestContext, port: number): Promise<Socket> {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  t.after(() => {
    socket.destroy();
  });
  await within(once(socket, 'connect'), 2000, 'connect');
  return socket;
}

/** Reads exactly `length` bytes from a flowing socket. */
function readBytes(socket: Socket, length: number, ms = 5000): Promise<Buffer> {
  return within(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= length) {
          cleanup();
          resolve(Buffer.concat(chunks).subarray(0, length));
        }
      };
      const onEnd = (): void => {
        cleanup();
        reject(new Error(`stream ended after ${got} of ${length} bytes`));
      };
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onEnd);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onEnd);
    }),
    ms,
    `reading ${length} bytes`,
  );
}

/** Milliseconds for one small message to come back from an echo server. */
async function roundTrip(socket: Socket, message = 'ping'): Promise<number> {
  const started = performance.now();
  const reply = readBytes(socket, message.length);
  socket.write(message);
  assert.equal((await reply).toString(), message);
  return performance.now() - started;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Resolves with the error code the socket ends with ('' for a clean close). */
function closeOutcome(socket: Socket): Promise<string> {
  if (socket.destroyed) return Promise.resolve('already closed');
  return new Promise((resolve) => {
    let code = '';
    socket.on('error', (error: NodeJS.ErrnoException) => (code = error.code ?? 'error'));
    socket.on('close', () => resolve(code));
    socket.resume();
  });
}

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every 10 ms for at most `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`${what}: not true after ${ms} ms`);
    await sleep(10);
  }
}

// --- plain forwarding ----------------------------------------------------------------------------------

test('bytes pass unchanged both ways, counted in stats', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  assert.notEqual(proxy.listenPort, port);
  const client = await connect(t, proxy.listenPort);
  const payload = randomBytes(8 * 1024 * 1024);
  const reply = readBytes(client, payload.length, 10_000);
  client.write(payload);
  assert.equal(sha256(await reply), sha256(payload));
  const stats = proxy.stats();
  assert.equal(stats.bytesUp, payload.length);
  assert.equal(stats.bytesDown, payload.length);
  assert.equal(stats.accepted, 1);
  assert.equal(stats.active, 1);
  assert.equal(stats.queued, 0);
});

test('an HTTP keep-alive connection carries many requests through one proxied connection', async (t) => {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => res.end(`${req.url} ${sha256(Buffer.concat(chunks))}`));
  });
  server.keepAliveTimeout = 5000;
  server.listen(0, host);
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const proxy = await proxyTo(t, (server.address() as AddressInfo).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 20; i++) {
    const body = randomBytes(10_000 + i);
    const answer = await within(
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host, port: proxy.listenPort, path: `/r${i}`, method: 'POST', agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(body);
      }),
      2000,
      `request ${i}`,
    );
    assert.equal(answer, `/r${i} ${sha256(body)}`);
  }
  assert.equal(proxy.stats().accepted, 1, 'the agent reused one connection');
});

test('half-close: the client may finish sending and still receive the reply', async (t) => {
  // The server answers only after the client's FIN, so the proxy must pass the FIN on and keep the other direction open.
  const { port } = await serve(
    t,
    (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => socket.end(Buffer.concat(chunks).reverse()));
    },
    { allowHalfOpen: true },
  );
  const proxy = await proxyTo(t, port);
  // Once straight through, once with both FINs queued behind latency.
  for (const latencyMs of [0, 50]) {
    if (latencyMs > 0) proxy.add('slow', { kind: 'latency', latencyMs, direction: 'both' });
    const client = net.connect({ host, port: proxy.listenPort, allowHalfOpen: true });
    t.after(() => {
      client.destroy();
    });
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = within(once(client, 'end'), 3000, 'reply end');
    client.end('abcdef');
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), 'fedcba');
    await eventually(() => proxy.stats().active === 0, 2000, 'proxy released the connection');
  }
});

test('an unreachable upstream closes the client cleanly and the proxy carries on', async (t) => {
  const proxy = await proxyTo(t, await freePort());
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const client = net.connect({ host, port: proxy.listenPort });
    const outcome = within(closeOutcome(client), 2000, 'client close');
    await once(client, 'connect');
    // Unread bytes would turn a careless close into a reset.
    client.write('hello');
    assert.equal(await outcome, '', 'closed with a FIN, not an error');
    assert.ok(performance.now() - started < 1000);
  }
  assert.equal(proxy.stats().accepted, 3);
  await eventually(() => proxy.stats().active === 0, 2000, 'no connection left');
});

test('a reset on one connection reaches its upstream and leaves the others alone', async (t) => {
  const upstreamOutcomes: Promise<string>[] = [];
  const { port } = await serve(t, (socket) => {
    upstreamOutcomes.push(closeOutcome(socket));
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  const proxy = await proxyTo(t, port);
  const a = await connect(t, proxy.listenPort);
  const b = await connect(t, proxy.listenPort);
  await roundTrip(a);
  await roundTrip(b);
  a.resetAndDestroy();
  assert.equal(await within(upstreamOutcomes[0]!, 2000, 'upstream of a'), 'ECONNRESET');
  await roundTrip(b, 'still here');
  assert.equal(proxy.stats().active, 1);
});

test('backpressure: a stalled upstream stops the client instead of filling the proxy', async (t) => {
  const upstreamSockets: Socket[] = [];
  const { port } = await serve(t, (socket) => {
    socket.pause();
    upstreamSockets.push(socket);
  });
  const cap = 256 * 1024;
  const proxy = await proxyTo(t, port, { maxQueuedBytes: cap });
  proxy.add('slow', { kind: 'latency', latencyMs: 5, direction: 'upstream' });
  const client = await connect(t, proxy.listenPort);
  const chunk = randomBytes(1024 * 1024);
  const limit = 256;
  let written = 0;
  let stalled = false;
  let maxQueued = 0;
  // Write until the client's own buffer stays full for 300 ms; without backpressure nothing stalls.
  for (let i = 0; i < limit && !stalled; i++) {
    written += chunk.length;
    if (!client.write(chunk)) {
      stalled = await Promise.race([once(client, 'drain').then(() => false), sleep(300).then(() => true)]);
    }
    maxQueued = Math.max(maxQueued, proxy.stats().queued);
  }
  assert.ok(stalled, `the client never stalled after ${written} bytes`);
  assert.ok(written < 128 * 1024 * 1024, `stalled only after ${written} bytes`);
  assert.ok(maxQueued <= cap + 64 * 1024, `the latency queue held ${maxQueued} bytes`);
  // Let the upstream read: everything written arrives intact.
  const upstream = upstreamSockets[0]!;
  const received = createHash('sha256');
  let receivedBytes = 0;
  upstream.on('data', (data: Buffer) => {
    received.update(data);
    receivedBytes += data.length;
  });
  upstream.resume();
  const end = within(once(upstream, 'end'), 10_000, 'upstream end');
  client.end();
  await end;
  const expected = createHash('sha256');
  for (let i = 0; i < written / chunk.length; i++) expected.update(chunk);
  assert.equal(receivedBytes, written);
  assert.equal(received.digest('hex'), expected.digest('hex'));
});

// --- latency and bandwidth --------------------------------------------------------------------------

test('latency adds its delay to every round trip, twice when both ways; jitter stays in bounds', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const client = await connect(t, proxy.listenPort);
  const samples = async (n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await roundTrip(client));
    return out;
  };
  // Lower bounds are exact (the proxy never sends early); upper bounds use the median, so a CPU
  // shared with other work does not fail the test on one late timer.
  const tolerance = 40;
  const baseline = median(await samples(5));
  assert.ok(baseline < tolerance, `round trip without toxics took ${baseline} ms`);

  proxy.add('slow', { kind: 'latency', latencyMs: 80 });
  let ms = await samples(5);
  assert.ok(Math.min(...ms) >= 78, `downstream latency: ${ms.join(', ')}`);
  assert.ok(median(ms) < baseline + 80 + tolerance, `downstream latency: ${ms.join(', ')}`);

  proxy.add('slow', { kind: 'latency', latencyMs: 80, direction: 'both' });
  ms = await samples(3);
  assert.ok(Math.min(...ms) >= 158, `two-way latency: ${ms.join(', ')}`);
  assert.ok(median(ms) < baseline + 160 + tolerance, `two-way latency: ${ms.join(', ')}`);

  proxy.add('slow', { kind: 'latency', latencyMs: 60, jitterMs: 40 });
  ms = await samples(15);
  assert.ok(Math.min(...ms) >= 18, `jitter below its bound: ${ms.join(', ')}`);
  assert.ok(median(ms) < baseline + 60 + tolerance, `jittered median: ${ms.join(', ')}`);
  assert.ok(ms.filter((x) => x < baseline + 100 + tolerance).length >= 12, `jitter above its bound: ${ms.join(', ')}`);
  assert.ok(Math.max(...ms) - Math.min(...ms) > 15, `jitter had no effect: ${ms.join(', ')}`);

  proxy.remove('slow');
  assert.deepEqual(proxy.toxics(), {});
  ms = await samples(3);
  assert.ok(median(ms) < baseline + tolerance, `after removal: ${ms.join(', ')}`);
});

test('removing latency releases queued bytes at once and in order', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const client = await connect(t, proxy.listenPort);
  proxy.add('slow', { kind: 'latency', latencyMs: 2000, direction: 'both' });
  const parts = Array.from({ length: 50 }, (_, i) => `<${i}>`);
  const total = parts.join('').length;
  const started = performance.now();
  const reply = readBytes(client, total, 1500);
  for (const part of parts) {
    client.write(part);
    await sleep(2);
  }
  assert.ok(proxy.stats().queued > 0, 'the latency toxic holds the bytes');
  proxy.remove('slow');
  assert.equal((await reply).toString(), parts.join(''));
  assert.ok(performance.now() - started < 1000);
});

test('jittered latency never reorders bytes', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const client = await connect(t, proxy.listenPort);
  proxy.add('shaky', { kind: 'latency', latencyMs: 40, jitterMs: 35, direction: 'both' });
  const parts = Array.from({ length: 60 }, (_, i) => `<${i}>`);
  const reply = readBytes(client, parts.join('').length, 3000);
  for (const part of parts) {
    client.write(part);
    await sleep(2);
  }
  assert.equal((await reply).toString(), parts.join(''));
});

test('bandwidth limits throughput within 30 % and lifts when removed', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const client = await connect(t, proxy.listenPort);
  const rate = 200_000;
  proxy.add('thin', { kind: 'bandwidth', bytesPerSecond: rate });
  const payload = randomBytes(300_000);
  let started = performance.now();
  let reply = readBytes(client, payload.length, 5000);
  client.write(payload);
  assert.equal(sha256(await reply), sha256(payload));
  const seconds = (performance.now() - started) / 1000;
  const measured = payload.length / seconds;
  assert.ok(measured > rate * 0.7 && measured < rate * 1.3, `measured ${Math.round(measured)} B/s against ${rate}`);

  proxy.clear();
  started = performance.now();
  reply = readBytes(client, payload.length, 5000);
  client.write(payload);
  await reply;
  assert.ok(performance.now() - started < 750, 'full speed again');
});

test('100 concurrent connections all complete under latency', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  proxy.add('slow', { kind: 'latency', latencyMs: 50, direction: 'both' });
  const started = performance.now();
  const times = await within(
    Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const client = await connect(t, proxy.listenPort);
        const ms = await roundTrip(client, `hello ${i}`);
        client.end();
        return ms;
      }),
    ),
    5000,
    '100 connections',
  );
  for (const ms of times) assert.ok(ms >= 99, `a round trip took only ${ms} ms`);
  assert.ok(performance.now() - started < 3000, 'the connections ran concurrently');
  assert.equal(proxy.stats().accepted, 100);
  await eventually(() => proxy.stats().active === 0, 3000, 'all connections closed');
});

// --- reset, timeout, down --------------------------------------------------------------------------------

test('reset cuts live connections at once, resets new ones while on, and lifts when removed', async (t) => {
  const upstreamOutcomes: Promise<string>[] = [];
  const { port } = await serve(t, (socket) => {
    upstreamOutcomes.push(closeOutcome(socket));
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  const proxy = await proxyTo(t, port);
  const live = await connect(t, proxy.listenPort);
  await roundTrip(live);
  const liveOutcome = closeOutcome(live);
  const started = performance.now();
  proxy.add('cut', { kind: 'reset' });
  assert.equal(await within(liveOutcome, 500, 'live connection reset'), 'ECONNRESET');
  assert.ok(performance.now() - started < 500);
  assert.equal(await within(upstreamOutcomes[0]!, 500, 'upstream side reset'), 'ECONNRESET');

  const fresh = net.connect({ host, port: proxy.listenPort });
  t.after(() => {
    fresh.destroy();
  });
  fresh.write('hello');
  assert.equal(await within(closeOutcome(fresh), 1000, 'new connection reset'), 'ECONNRESET');
  assert.equal(proxy.stats().resets, 2);
  assert.equal(upstreamOutcomes.length, 1, 'the reset connection never reached the upstream');

  proxy.remove('cut');
  const after = await connect(t, proxy.listenPort);
  await roundTrip(after);
});

test('timeout black-holes traffic, then live and new connections recover when removed', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const live = await connect(t, proxy.listenPort);
  await roundTrip(live);
  proxy.add('hole', { kind: 'timeout' });

  // A request on a new connection hangs until the client gives up.
  const timedOut = await within(
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port: proxy.listenPort });
      socket.setTimeout(300, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('data', () => resolve(false));
      socket.on('error', () => resolve(false));
      socket.write('anyone?');
    }),
    2000,
    'client timeout',
  );
  assert.equal(timedOut, true);

  // The live connection hears nothing back while the toxic is on, and its bytes are not lost.
  let heard = '';
  live.on('data', (chunk: Buffer) => (heard += chunk.toString()));
  live.write('held');
  await sleep(300);
  assert.equal(heard, '');
  assert.equal(proxy.stats().queued, 0, 'black-holed bytes wait in socket buffers, not in the proxy');
  proxy.remove('hole');
  await eventually(() => heard === 'held', 1000, 'held bytes delivered after removal');

  const fresh = await connect(t, proxy.listenPort);
  await roundTrip(fresh);
});

test('timeout also holds bytes a latency toxic had already queued', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const client = await connect(t, proxy.listenPort);
  let heard = '';
  client.on('data', (chunk: Buffer) => (heard += chunk.toString()));
  proxy.add('slow', { kind: 'latency', latencyMs: 150 });
  client.write('queued');
  await sleep(50);
  proxy.add('hole', { kind: 'timeout' });
  await sleep(300);
  assert.equal(heard, '');
  proxy.remove('hole');
  await eventually(() => heard === 'queued', 1000, 'queued bytes delivered after removal');
});

test('timeout with afterMs closes a black-holed connection after that long', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  proxy.add('hole', { kind: 'timeout', afterMs: 200 });
  const started = performance.now();
  const client = net.connect({ host, port: proxy.listenPort });
  t.after(() => {
    client.destroy();
  });
  client.write('x');
  await within(closeOutcome(client), 2000, 'close after afterMs');
  const ms = performance.now() - started;
  assert.ok(ms >= 190 && ms < 1500, `closed after ${ms} ms`);
});

test('down refuses new connections on the port, keeps live ones, and clear() reopens the same port', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  const listenPort = proxy.listenPort;
  const live = await connect(t, listenPort);
  proxy.add('off', { kind: 'down' });
  assert.equal(await within(connectOutcome(listenPort), 2000, 'refused'), 'ECONNREFUSED');
  await roundTrip(live);
  proxy.clear();
  await proxy.settled();
  assert.equal(proxy.listenPort, listenPort);
  assert.equal(await within(connectOutcome(listenPort), 2000, 'reopened'), 'connected');
  const fresh = await connect(t, listenPort);
  await roundTrip(fresh);
});

// --- TLS, lifecycle, validation ---------------------------------------------------------------------------

test('TLS passes through undecrypted: the client verifies the upstream certificate', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'msa-poc-proxy-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'pki');
  await ensurePki({ dir, services: [{ name: 'gateway', exposure: 'public' }] });
  const [key, cert, ca] = await Promise.all(['gateway.key', 'gateway.crt', 'ca.crt'].map((file) => readFile(join(dir, file))));
  const accepted = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key: key!, cert: cert! }, (socket) => {
    accepted.add(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, host);
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const proxy = await proxyTo(t, (server.address() as AddressInfo).port);

  const client = tls.connect({ host, port: proxy.listenPort, ca: ca! });
  t.after(() => {
    client.destroy();
  });
  await within(once(client, 'secureConnect'), 3000, 'TLS handshake');
  assert.equal(client.authorized, true);
  assert.equal(client.getPeerX509Certificate()?.fingerprint256, new X509Certificate(cert!).fingerprint256);
  const payload = randomBytes(256 * 1024);
  const reply = readBytes(client as unknown as Socket, payload.length);
  client.write(payload);
  assert.equal(sha256(await reply), sha256(payload));
  assert.ok(proxy.stats().bytesUp > payload.length, 'the proxy carried the encrypted records, handshake included');
});

test('close() ends every connection and the listener', async (t) => {
  const { port } = await echo(t);
  const proxy = await startFaultProxy({ upstream: { host, port } });
  const clients = await Promise.all([1, 2, 3].map(() => connect(t, proxy.listenPort)));
  await roundTrip(clients[0]!);
  proxy.add('slow', { kind: 'latency', latencyMs: 5000 });
  clients[1]!.write('in flight');
  await sleep(20);
  const outcomes = clients.map((client) => within(closeOutcome(client), 1000, 'client closed'));
  await within(proxy.close(), 2000, 'close()');
  await Promise.all(outcomes);
  assert.equal(proxy.stats().active, 0);
  assert.equal(await connectOutcome(proxy.listenPort), 'ECONNREFUSED');
  assert.throws(() => proxy.add('late', { kind: 'reset' }), /closed/);
});

test('toxics are validated, listed by name and replaced by name', async (t) => {
  const { port } = await echo(t);
  const proxy = await proxyTo(t, port);
  assert.throws(() => proxy.add('', { kind: 'reset' }), TypeError);
  assert.throws(() => proxy.add('x', { kind: 'latency', latencyMs: -1 }), RangeError);
  assert.throws(() => proxy.add('x', { kind: 'bandwidth', bytesPerSecond: 0 }), RangeError);
  assert.throws(() => proxy.add('x', { kind: 'timeout', afterMs: Number.NaN }), RangeError);
  assert.throws(() => proxy.add('x', { kind: 'latency', latencyMs: 1, direction: 'sideways' as 'both' }), RangeError);
  proxy.add('a', { kind: 'latency', latencyMs: 10 });
  proxy.add('b', { kind: 'bandwidth', bytesPerSecond: 1000, direction: 'upstream' });
  proxy.add('a', { kind: 'latency', latencyMs: 20, jitterMs: 5 });
  assert.deepEqual(proxy.toxics(), {
    a: { kind: 'latency', latencyMs: 20, jitterMs: 5 },
    b: { kind: 'bandwidth', bytesPerSecond: 1000, direction: 'upstream' },
  });
  proxy.remove('a');
  proxy.remove('never added');
  assert.deepEqual(Object.keys(proxy.toxics()), ['b']);
});
