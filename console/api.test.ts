import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { problem, type DeadLetterReplay } from '@msa-poc/contracts';
import { ProblemError } from '@msa-poc/platform/errors';
import { createLogger } from '@msa-poc/platform/telemetry';
import { loadConsoleSettings } from './config.js';
import { startConsole, type RunningConsole } from './console.js';
import type { DeadLetterSource, DeadLetterView } from './dead-letters.js';
import { exportSpans, orderTrace } from './testing.js';

const letter: DeadLetterView = {
  id: randomUUID(), consumer: 'integration', error: 'partner answered 503', attempts: 5, createdAt: '2025-01-01T00:00:00.000Z',
  event: { specversion: '1.0', id: randomUUID(), source: '/store', type: 'dev.msa-poc.order.placed.v1', time: '2025-01-01T00:00:00.000Z', datacontenttype: 'application/json', data: { orderId: randomUUID() } },
};
const replayed: DeadLetterReplay = { deadLetterId: letter.id, eventId: letter.event.id, replayEventId: randomUUID(), replayedAt: '2025-01-01T00:01:00.000Z', replayedBy: 'console' };

/** Stands in for the store: one dead letter, replayable once. */
function fakeDeadLetters(): DeadLetterSource & { replays: string[] } {
  const replays: string[] = [];
  return {
    replays,
    list: async () => [replays.length > 0 ? { ...letter, replay: replayed } : letter],
    replay: async (id) => {
      if (id !== letter.id) return { status: 404, body: problem('notFound', `No dead letter ${id}.`) };
      if (replays.length > 0) return { status: 409, body: { ...problem('alreadyReplayed', 'replayed before, by console'), instance: `/dead-letters/${id}/replay` } };
      replays.push(id);
      return { status: 200, body: replayed };
    },
    close: async () => undefined,
  };
}

/** A raw request, for the headers fetch will not let a caller set (Host). */
function rawRequest(url: string, options: { method?: string; headers?: Record<string, string> }): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('console API', () => {
  let running: RunningConsole;
  const deadLetters = fakeDeadLetters();
  const trace = orderTrace({ requestId: 'req-api-test-1' });
  before(async () => {
    running = await startConsole({ port: 0, otlpPort: 0, deadLetters, log: createLogger('console', 'silent') });
    assert.equal((await exportSpans(running.otlpUrl, trace.spans)).status, 200);
  });
  after(() => running.stop());

  const get = async (path: string) => {
    const response = await fetch(`${running.url}${path}`);
    return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
  };

  it('answers services, edges, traces and a trace as JSON', async () => {
    const services = await get('/api/services');
    assert.equal(services.status, 200);
    const names = (services.body.services as { name: string; count: number }[]).map((s) => s.name);
    assert.deepEqual(names.slice(0, 5), ['gateway', 'orders', 'store', 'integration', 'partner'], 'every service of the topology, idle or not');
    assert.equal((services.body.spans as { spans: number }).spans, trace.spans.length);
    const edges = (await get('/api/edges?windowSeconds=30')).body.edges as { from: string; to: string; rate: number }[];
    assert.ok(edges.find((e) => e.from === 'gateway' && e.to === 'orders' && e.rate > 0));
    const found = await get('/api/traces?requestId=req-api-test-1&route=&status=');
    assert.deepEqual((found.body.items as { traceId: string }[]).map((t) => t.traceId), [trace.traceId], 'empty parameters mean no filter');
    const detail = await get(`/api/traces/${trace.traceId.toUpperCase()}`);
    assert.equal((detail.body.spans as unknown[]).length, trace.spans.length);
    assert.deepEqual((await get('/healthz')).body.status, 'ok');
  });

  it('refuses bad parameters with a problem document that says what is wrong and what is right', async () => {
    const status = await get('/api/traces?status=fine');
    assert.equal(status.status, 400);
    assert.equal(status.type, 'application/problem+json; charset=utf-8');
    assert.equal(status.body.type, 'https://msa-poc.local/problems/validation');
    assert.match(String(status.body.detail), /query\/status Expected string to match .* \(An HTTP status \(409\), a class \(5xx\), error or ok\.\)/);
    assert.deepEqual((status.body.errors as { path: string }[]).map((e) => e.path), ['query/status']);
    assert.match(String((await get('/api/traces?limit=0')).body.detail), /query\/limit Expected integer to be greater or equal to 1/);
    assert.match(String((await get('/api/services?windowSeconds=5')).body.detail), /windowSeconds Expected integer to be greater or equal to 10 \(The sliding window, in seconds\.\)/);
    assert.equal((await get('/api/traces?colour=red')).status, 400);
    const badTraceId = await get('/api/traces/not-a-trace');
    assert.equal(badTraceId.status, 400);
    assert.match(String(badTraceId.body.detail), /The path does not match the console API: params\/traceId .*\(A W3C trace id: 32 hex digits\.\)/);
    assert.match(String((await get('/api/dead-letters/x/replay')).body.detail), /GET \/api\/dead-letters\/x\/replay is not part of the console/);
  });

  it('says why a trace is not there', async () => {
    const missing = await get(`/api/traces/${'f'.repeat(32)}`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.detail), /holds no trace f{32}\. It keeps the latest 50000 spans for 15 minutes/);
  });

  it('lists dead letters and replays one through the store, passing the store\'s refusal on', async () => {
    assert.deepEqual((await get('/api/dead-letters')).body.items, [letter]);
    const first = await fetch(`${running.url}/api/dead-letters/${letter.id}/replay`, { method: 'POST', headers: { origin: running.url } });
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), replayed);
    assert.deepEqual(deadLetters.replays, [letter.id]);
    assert.deepEqual((await get('/api/dead-letters')).body.items, [{ ...letter, replay: replayed }]);

    const second = await fetch(`${running.url}/api/dead-letters/${letter.id}/replay`, { method: 'POST' });
    assert.equal(second.status, 409);
    assert.equal(second.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(await second.json(), { ...problem('alreadyReplayed', 'replayed before, by console'), instance: `/api/dead-letters/${letter.id}/replay` });
    const badId = await fetch(`${running.url}/api/dead-letters/42/replay`, { method: 'POST' });
    assert.equal(badId.status, 400);
  });

  it('answers only requests addressed to it, and changes nothing for another site\'s page', async () => {
    const port = new URL(running.url).port;
    const rebound = await rawRequest(`${running.url}/api/services`, { headers: { host: `attacker.example:${port}` } });
    assert.equal(rebound.status, 403);
    assert.match(String(rebound.body.detail), /answers requests addressed to 127\.0\.0\.1:\d+, not to "attacker\.example:\d+"/);
    assert.equal((await rawRequest(`${running.url}/api/services`, { headers: { host: `localhost:${port}` } })).status, 200);

    const before = deadLetters.replays.length;
    const crossSite = await fetch(`${running.url}/api/dead-letters/${letter.id}/replay`, { method: 'POST', headers: { origin: 'https://attacker.example' } });
    assert.equal(crossSite.status, 403);
    assert.match(String(((await crossSite.json()) as { detail: string }).detail), /A page from https:\/\/attacker\.example may not change anything/);
    const fetchedCrossSite = await fetch(`${running.url}/api/dead-letters/${letter.id}/replay`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(fetchedCrossSite.status, 403);
    assert.equal(deadLetters.replays.length, before);
  });

  it('serves the page with its own modules and a strict content security policy', async () => {
    const page = await fetch(`${running.url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script type="importmap">\{"imports":\{"preact":"\/vendor\/preact\.mjs"/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'; .*connect-src 'self'/);
    for (const path of ['/vendor/preact.mjs', '/vendor/preact-hooks.mjs', '/vendor/htm.mjs', '/page/main.js', '/style.css']) {
      const asset = await fetch(`${running.url}${path}`);
      assert.equal(asset.status, 200, path);
      await asset.arrayBuffer();
    }
    assert.equal((await fetch(`${running.url}/page/../package.json`)).status, 404);
  });
});

describe('console without a store', () => {
  it('explains that dead letters need the system', async () => {
    const running = await startConsole({ port: 0, otlpPort: 0, log: createLogger('console', 'silent') });
    try {
      const response = await fetch(`${running.url}/api/dead-letters`);
      assert.equal(response.status, 503);
      assert.match(((await response.json()) as { detail: string }).detail, /started without a store.*npx poc up/);
    } finally {
      await running.stop();
    }
  });

  it('reports a store it cannot reach as unavailable, naming it', async () => {
    const unreachable: DeadLetterSource = {
      list: () => Promise.reject(new ProblemError('unavailable', 'cannot reach store for listDeadLetters: connect ECONNREFUSED 127.0.0.1:1')),
      replay: () => Promise.reject(new Error('not called')),
      close: async () => undefined,
    };
    const running = await startConsole({ port: 0, otlpPort: 0, deadLetters: unreachable, log: createLogger('console', 'silent') });
    try {
      const response = await fetch(`${running.url}/api/dead-letters`);
      assert.equal(response.status, 503);
      assert.match(((await response.json()) as { detail: string }).detail, /cannot reach store/);
    } finally {
      await running.stop();
    }
  });

  it('names the port and the variable when its port is taken', async () => {
    const first = await startConsole({ port: 0, otlpPort: 0, log: createLogger('console', 'silent') });
    try {
      await assert.rejects(startConsole({ port: Number(new URL(first.url).port), otlpPort: 0, log: createLogger('console', 'silent') }), /the console cannot listen on port \d+: the port is already in use\. .* or set POC_CONSOLE_PORT\./);
      await assert.rejects(startConsole({ port: 0, otlpPort: Number(new URL(first.otlpUrl).port), log: createLogger('console', 'silent') }), /OTLP receiver cannot listen on port \d+: .*POC_CONSOLE_OTLP_PORT/);
    } finally {
      await first.stop();
    }
  });
});

describe('console settings', () => {
  it('takes its ports from the environment and refuses what cannot work', () => {
    const settings = loadConsoleSettings({ POC_CONSOLE_PORT: '18090', POC_CONSOLE_OTLP_PORT: '14318', POC_HOME: '/tmp/poc-home' });
    assert.deepEqual([settings.port, settings.otlpPort, settings.platform.pkiDir], [18090, 14318, '/tmp/poc-home/pki']);
    assert.deepEqual([loadConsoleSettings({}).port, loadConsoleSettings({}).otlpPort], [8090, 4318]);
    assert.throws(() => loadConsoleSettings({ POC_CONSOLE_PORT: 'eighty' }), /POC_CONSOLE_PORT="eighty" is not a port number \(1-65535\); unset it to use 8090/);
    assert.throws(() => loadConsoleSettings({ POC_CONSOLE_PORT: '4318' }), /POC_CONSOLE_PORT and POC_CONSOLE_OTLP_PORT are both 4318/);
    assert.throws(() => loadConsoleSettings({ POC_CONSOLE_OTLP_PORT: '8102' }), /POC_CONSOLE_OTLP_PORT=8102 is a port of store too; choose another/);
    assert.throws(() => loadConsoleSettings({ POC_CONSOLE_MAX_SPANS: '10' }), /POC_CONSOLE_MAX_SPANS="10" must be a whole number from 100 to 5000000/);
  });
});
