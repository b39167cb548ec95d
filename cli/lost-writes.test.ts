/**
 * The proving run must fail a system that loses acknowledged writes. The system here is the real one
 * behind a front that answers every 50th order placement with 201 and a made-up order, without
 * passing it on: an acknowledged write that never happened, as a store dropping writes would give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { loadIdentity } from '@msa-poc/platform/identity';
import type { Report } from '@msa-poc/harness/report-schema';
import { freePorts, startTestSystem } from './testing.js';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
const dropEvery = 50;

interface LosingFront {
  readonly server: Server;
  readonly dropped: string[];
}

/** Terminates TLS with the gateway's certificate, as a load balancer would, and forwards to it. */
function startLosingFront(port: number, pkiDir: string, upstream: Pool): Promise<LosingFront> {
  const identity = loadIdentity(pkiDir, 'gateway');
  const dropped: string[] = [];
  let placements = 0;
  let lastOrder: Record<string, unknown> | undefined;
  const server = createServer({ cert: identity.cert, key: identity.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const placing = req.method === 'POST' && req.url === '/v1/orders';
      if (placing && lastOrder && ++placements % dropEvery === 0) {
        const id = randomUUID();
        dropped.push(id);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ...lastOrder, id }));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !['host', 'connection', 'transfer-encoding'].includes(name)));
      upstream.request({ method: req.method as 'GET', path: req.url ?? '/', headers: headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : null })
        .then(async (reply) => {
          const body = Buffer.from(await reply.body.arrayBuffer());
          if (placing && reply.statusCode === 201) lastOrder = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
          const { connection: _c, 'transfer-encoding': _t, 'keep-alive': _k, ...passed } = reply.headers;
          res.writeHead(reply.statusCode, passed as Record<string, string | string[]>).end(body);
        })
        .catch((error: Error) => res.writeHead(502, { 'content-type': 'text/plain' }).end(error.message));
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, dropped })));
}

test(`poc prove fails a system that acknowledges every ${dropEvery}th order without keeping it, and names the lost orders`, { timeout: 300_000 }, async () => {
  const [frontPort] = await freePorts(1);
  // The gateway believes its public origin is the front's: tokens and DPoP proofs are made for it.
  const system = await startTestSystem({ env: { POC_GATEWAY_URL: `https://127.0.0.1:${frontPort}` } });
  const upstream = new Pool(`https://127.0.0.1:${system.config.endpoints.gateway.port}`, { connect: { ca: readFileSync(join(system.config.pkiDir, 'ca.crt'), 'utf8') } });
  const front = await startLosingFront(frontPort as number, system.config.pkiDir, upstream);
  const out = join(system.home, 'report');
  try {
    await system.apiClient('prove-load', ['orders:read', 'orders:write']);
    const child = spawn(process.execPath, [poc, 'prove', '--quick', '--seed', '7', '--target', `https://127.0.0.1:${frontPort}`, '--ca', join(system.config.pkiDir, 'ca.crt'), '--out', out], {
      env: { ...process.env, POC_HOME: system.home }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    assert.ok(front.dropped.length > 0, `the front dropped no order: ${stderr.slice(-1500)}`);
    assert.equal(code, 1, `the run must fail: exit ${code}\n${stderr.slice(-1500)}`);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
    assert.equal(report.integrity.lost, front.dropped.length, 'every dropped acknowledgement is counted lost, and nothing else');
    assert.equal(report.integrity.lost_order_ids.length, Math.min(20, front.dropped.length));
    assert.ok(report.integrity.lost_order_ids.every((id) => front.dropped.includes(id)), 'the report names the lost orders');
    assert.match(stdout, new RegExp(`Lost order ids.*${report.integrity.lost_order_ids[0]}`), 'the summary names them too');
    const lostCheck = report.checks.find((c) => /lost/i.test(c.name));
    assert.ok(lostCheck && !lostCheck.pass, `a failed check names the loss: ${JSON.stringify(report.checks)}`);
    assert.match(stdout, /\*\*FAIL\*\*/, 'the summary leads with the verdict');
  } finally {
    await new Promise((resolve) => front.server.close(resolve));
    front.server.closeAllConnections();
    await upstream.close();
    await system.dispose();
  }
});
