/**
 * What one internal call costs over mutual TLS and in-process, through the same typed client and
 * the same server (routing, validation, allow-list, serialisation, spans off):
 *
 *   node packages/platform/dist/transport.bench.js [calls]
 *
 * Sequential calls, so latency is per call; CPU is this process's (client and server both live
 * here) per call. Each transport runs twice, alternating; the second round is past JIT warm-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { contract, route, topology } from '@msa-poc/contracts';
import { createClient, type ClientHandle } from './client.js';
import { loadConfig } from './config.js';
import { loadIdentity, tlsClientOptions, tlsServerOptions } from './identity.js';
import { ComponentRegistry } from './inprocess.js';
import { Metrics } from './metrics.js';
import { ensurePki } from './pki.js';
import { createServer } from './server.js';
import { createLogger } from './telemetry.js';
import { createTracing } from './tracing.js';

const Item = Type.Object({ name: Type.String({ maxLength: 20 }), n: Type.Integer() }, { additionalProperties: false });
const echoContract = contract({
  service: 'store',
  version: '1.0.0',
  routes: { echo: route({ method: 'POST', path: '/echo', summary: 'echo', body: Item, responses: { 200: Item }, callers: ['orders'], idempotent: false }) },
});

const calls = Number(process.argv[2] ?? 3_000);
const home = mkdtempSync(join(tmpdir(), 'poc-transport-bench-'));
await ensurePki({ dir: home, services: topology });
const registry = new ComponentRegistry(['store', 'orders']);
const server = await createServer({
  contract: echoContract,
  handlers: { echo: async ({ body }) => ({ status: 200 as const, body }) },
  tls: tlsServerOptions(loadIdentity(home, 'store'), { requireClientCert: true }),
  exposure: 'internal',
  publicOrigin: 'https://127.0.0.1',
  log: createLogger('store', 'silent'),
  metrics: new Metrics('store'),
  tracer: createTracing({ service: 'store', settings: loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing }).tracer,
  localCallers: registry,
});
registry.register('store', server);
await server.listen({ port: 0, host: '127.0.0.1' });
const origin = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
const clients: Record<string, ClientHandle<typeof echoContract>> = {
  https: createClient(echoContract, { origin, peer: 'store', connect: tlsClientOptions(loadIdentity(home, 'orders'), 'store') }),
  inproc: createClient(echoContract, { origin, peer: 'store', transport: registry.transport('store', 'orders') }),
};

async function measure(name: string, handle: ClientHandle<typeof echoContract>): Promise<void> {
  for (let i = 0; i < 300; i++) await handle.client.echo({ body: { name: 'warm', n: i } });
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await handle.client.echo({ body: { name: 'bench', n: i } });
    times.push(performance.now() - started);
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(times.length * q))] ?? 0).toFixed(3);
  process.stdout.write(`${name.padEnd(7)} ${calls} sequential calls: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, CPU ${((used.user + used.system) / calls).toFixed(0)} µs per call (client and server)\n`);
}

try {
  for (let round = 0; round < 2; round++) for (const [name, handle] of Object.entries(clients)) await measure(name, handle);
} finally {
  await Promise.all(Object.values(clients).map((c) => c.close()));
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
