/**
 * Micro-benchmarks of the hot paths, with tinybench: each task runs a fixed number of iterations
 * after a warm-up. Reported: this process's CPU time per call (the figure the targets use: it does
 * not grow when other processes take the core) and the wall time per iteration (p50, mean, p99),
 * which for the database ones includes the round trip and the database's own work.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Bench } from 'tinybench';
import { orderPlaced, PlaceOrderInput as PlaceOrderInputSchema, type PlaceOrderInput } from '@msa-poc/contracts';
import { uuidv7 } from '@msa-poc/platform/ids';
import { loadConfig } from '@msa-poc/platform/config';
import { createTracing, InMemorySpanExporter, SpanKind } from '@msa-poc/platform/tracing';
import { encodeTraceExportRequest } from '@msa-poc/platform/otlp-protobuf';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { validate } from '@msa-poc/platform/validation';
import { AccessTokenSigner } from '@msa-poc/gateway/auth/access-token';
import { createDpopProof, verifyDpopProof } from '@msa-poc/gateway/auth/dpop';
import { jwkThumbprint, parsePublicJwk } from '@msa-poc/gateway/auth/jwk';
import { MemoryReplayGuard } from '@msa-poc/gateway/auth/replay';
import { priceOrder, requestHash } from '@msa-poc/orders/order';
import { untracedOrderPlaced } from '@msa-poc/store/order-event';
import { migrate } from '@msa-poc/store/migrate';
import { listProducts, placeOrder } from '@msa-poc/store/repository';
import { pgliteBackend, postgresBackend, type Backend } from '@msa-poc/store/test-databases';
import { median, round } from '@msa-poc/harness/numbers';
import { untilQuiet } from './processes.js';
import type { MicroResult } from './results.js';

const url = 'https://127.0.0.1:8443/v1/orders';
const issuer = 'https://127.0.0.1:8443';
const audience = 'https://127.0.0.1:8443/v1';

async function timed(name: string, iterations: number, fn: () => unknown, setup?: { warmupIterations: number }): Promise<MicroResult> {
  const warmupIterations = setup?.warmupIterations ?? Math.min(200, iterations);
  const bench = new Bench({ time: 0, iterations, warmupTime: 0, warmupIterations, throws: true });
  // CPU time rather than wall time: it does not grow when other processes take the core. It is the
  // process's, so it also counts its compiler and GC threads while they work on what ran before
  // (a thread's own CPU time is not readable from Node 20 finely enough): the figure is the median
  // of five blocks' CPU per call, so that one disturbed block does not make it.
  const skipped = warmupIterations + 1; // tinybench also calls a task once to tell sync from async
  const blockSize = Math.max(1, Math.floor(iterations / 5));
  const marks: { cpuUs: number; calls: number }[] = [];
  let calls = 0;
  bench.add(name, () => {
    if (calls >= skipped && (calls - skipped) % blockSize === 0) marks.push({ cpuUs: processCpuUs(), calls });
    calls++;
    return fn();
  });
  await bench.run();
  marks.push({ cpuUs: processCpuUs(), calls });
  const perCall = marks.slice(1).map((mark, i) => (mark.cpuUs - marks[i]!.cpuUs) / (mark.calls - marks[i]!.calls));
  const result = bench.tasks[0]?.result;
  if (!result || !('latency' in result) || perCall.length === 0) throw new Error(`the micro-benchmark ${name} produced no statistics`);
  return {
    name, cpuUs: round(median(perCall), 1), meanUs: round(result.latency.mean * 1000, 1), p50Us: round(result.latency.p50 * 1000, 1), p99Us: round(result.latency.p99 * 1000, 1), samples: result.latency.samplesCount,
  };
}

const quietCores = 0.05;
const quietSliceMs = 250;

/** This process's user + system CPU time, µs. */
function processCpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const order: PlaceOrderInput = {
  customerId: 'bench-1',
  items: [{ sku: 'SKU-0001', quantity: 2 }, { sku: 'SKU-0007', quantity: 1 }],
  shippingAddress: { name: 'Bench Mark', line1: '1 Benchmark Road', city: 'Ghent', postalCode: '9000', country: 'BE' },
};

export async function runMicro(quick: boolean, progress: (line: string) => void): Promise<MicroResult[]> {
  const n = quick ? 500 : 1_000;
  const results: MicroResult[] = [];
  // After the load phases this process's GC threads sweep what they left for a while, and the first
  // micro-benchmark (DPoP verification) read half again its wall time in CPU (154 µs against an 87 µs p50).
  const waitedMs = await untilQuiet(() => processCpuUs() / 1e6, quietCores, quietSliceMs, 10_000);
  progress(`  this process quiet after ${Math.round(waitedMs)} ms (under ${quietCores} of a core in a ${quietSliceMs} ms slice; CPU per call counts every thread of it)`);
  const note = (result: MicroResult) => {
    results.push(result);
    progress(`  ${result.name.padEnd(32)} ${String(result.cpuUs).padStart(8)} µs CPU; wall p50 ${result.p50Us} µs, mean ${result.meanUs} µs, p99 ${result.p99Us} µs (${result.samples} samples)`);
  };

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = parsePublicJwk(publicKey.export({ format: 'jwk' }));
  const signer = AccessTokenSigner.generate();
  const now = Date.now();
  const issue = (i: number) => signer.issueAccessToken({ clientId: `bench-${i}`, scope: 'orders:write', jkt: jwkThumbprint(publicJwk), lifetimeSeconds: 600, issuer, audience, now });
  const token = issue(0);

  // Each proof has its own jti, signed beforehand: only verification (with the replay check) is timed.
  // tinybench calls a task once more than its warm-up and measured iterations, to tell sync from async.
  const warmup = 200;
  const calls = n + warmup + 1;
  const proofs = Array.from({ length: calls }, () => createDpopProof({ privateKey, publicJwk, method: 'POST', url, accessToken: token, now }));
  const replay = new MemoryReplayGuard();
  let proof = 0;
  note(await timed('dpop-proof-verify', n, () => verifyDpopProof({ headerValues: [proofs[proof++] as string], method: 'POST', url, accessToken: token, now, replay }), { warmupIterations: warmup }));
  note(await timed('dpop-proof-sign (client)', n, () => createDpopProof({ privateKey, publicJwk, method: 'POST', url, accessToken: token })));
  // A client presents the same token for minutes: the per-request cost is the cached check.
  note(await timed('access-token-verify', n, () => signer.verifyAccessToken(token, { issuer, audience })));
  const fresh = Array.from({ length: calls }, (_, i) => issue(i + 1));
  let next = 0;
  note(await timed('access-token-verify (first use)', n, () => signer.verifyAccessToken(fresh[next++] as string, { issuer, audience }), { warmupIterations: warmup }));

  note(await timed('order-schema-validate', n * 5, () => {
    if (!validate(PlaceOrderInputSchema, order).ok) throw new Error('the bench order does not pass the contract schema');
  }));

  const config = loadConfig({ POC_HOME: '/nonexistent', OTEL_TRACES_SAMPLER_ARG: '1' });
  const dropAll = { export: (_spans: unknown[], done: (r: { code: number }) => void) => done({ code: 0 }), shutdown: async () => undefined };
  const tracing = createTracing({ service: 'bench', settings: config.tracing, exporter: dropAll });
  note(await timed('span-create-end (sampled)', n * 5, () => tracing.tracer.startSpan('bench', { attributes: { 'http.request.method': 'POST', 'url.path': '/v1/orders' } }).end()));
  await tracing.shutdown(1_000);

  // One export's encoding: 100 spans as a request's server, client and database spans carry them.
  const recorded = new InMemorySpanExporter();
  const recording = createTracing({ service: 'bench', settings: config.tracing, exporter: recorded });
  for (let i = 0; i < 100; i++) {
    const kind = [SpanKind.SERVER, SpanKind.CLIENT, SpanKind.CLIENT][i % 3];
    recording.tracer.startSpan('POST /orders', { kind, attributes: { 'http.request.method': 'POST', 'http.route': '/orders', 'msa.operation': 'placeOrder', 'msa.request_id': `req-${i}`, 'peer.service': 'store', 'http.response.status_code': 201 } }).end();
  }
  await recording.flush(1_000);
  const spans = recorded.getFinishedSpans();
  await recording.shutdown(1_000);
  note(await timed('otlp-encode (100 spans)', n, () => encodeTraceExportRequest(spans)));
  note(await timed('otlp-encode, transformer (100 spans)', n, () => ProtobufTraceSerializer.serializeRequest(spans)));

  for (const backend of [pgliteBackend, postgresBackend]) note(await orderTransaction(backend, quick ? 50 : 150));
  return results;
}

/** One order placed with a fresh Idempotency-Key: the store's whole write, as the real store sends it. */
async function orderTransaction(backend: Backend, iterations: number): Promise<MicroResult> {
  const { db, dispose } = await backend.fresh({ poolSize: 2 });
  try {
    await migrate(db);
    const catalog = new Map((await listProducts(db)).map((p) => [p.sku, p]));
    const pricing = priceOrder(order, catalog);
    if (!pricing.ok) throw new Error(`the bench order cannot be priced: ${pricing.detail}`);
    const hash = requestHash(order);
    return await timed(`order-transaction (${backend.name})`, iterations, async () => {
      const priced = { id: uuidv7(), customerId: order.customerId, items: pricing.items, total: pricing.total, shippingAddress: order.shippingAddress };
      const event = untracedOrderPlaced(priced, uuidv7());
      const result = await placeOrder(db, { key: uuidv7(), requestHash: hash, order: priced, event: { id: event.id, type: event.type, subject: orderPlaced.subject, payload: event } });
      if (result.outcome !== 'created') throw new Error(`placing the bench order answered ${result.outcome}`);
    }, { warmupIterations: 20 });
  } finally {
    await dispose();
  }
}
