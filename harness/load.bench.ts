/**
 * How much load one runLoad client can drive, against what a tight closed loop on the same undici
 * agent gets from the same trivial server (in a child process, so it has its own event loop).
 *
 *   node harness/dist/load.bench.js [stepSeconds]
 *
 * The closed loop is the ceiling of client + server with no scheduling at all. For runLoad the
 * figure is the highest constant rate it keeps up with (≥ 97 % answered within the window, no
 * failure), climbing in steps of 20 %, and the highest at which it also reports itself healthy.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { constant, createHistogram, recordMs, runLoad, summarize, type LoadResult, type Operation } from './load.js';

const CONNECTIONS = 64;

if (process.argv[2] === 'serve') {
  const server = createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
} else {
  await main(Number(process.argv[2] ?? 3));
}

async function main(stepSeconds: number): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (message) => resolve((message as { port: number }).port)));
  const origin = `http://127.0.0.1:${port}`;
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
  try {
    const get: Operation = {
      name: 'get',
      run: async (signal) => {
        const response = await request(`${origin}/`, { dispatcher: agent, signal });
        await response.body.dump();
        return { status: response.statusCode };
      },
    };
    await closedLoop(agent, origin, CONNECTIONS, 1000); // warm-up: connections and JIT

    let closedBest = { rps: 0, concurrency: 0, p99: 0 };
    for (const concurrency of [1, 8, 32, CONNECTIONS]) {
      const run = await closedLoop(agent, origin, concurrency, stepSeconds * 1000);
      console.log(`closed loop  concurrency ${String(concurrency).padStart(3)}: ${run.rps.toFixed(0).padStart(6)} rps  p50 ${run.p50} ms  p99 ${run.p99} ms  cpu ${run.cpu.toFixed(2)} core`);
      if (run.rps > closedBest.rps) closedBest = { rps: run.rps, concurrency, p99: run.p99 };
    }

    // Climb until the run no longer keeps up; remember the best step overall and the best one in
    // which the client did not call itself the limit (its latency figures are the trustworthy ones).
    let rate = Math.max(100, Math.round(closedBest.rps * 0.2));
    let kept: LoadResult | undefined;
    let healthy: LoadResult | undefined;
    for (let attempt = 0; attempt < 15; attempt++) {
      const result = await runLoad({ shape: constant(rate), durationMs: stepSeconds * 1000, timeoutMs: 2000, maxInFlight: 10_000, next: () => get });
      const keptUp = result.achievedRps >= 0.97 * result.offeredRps && result.failed === 0;
      console.log(
        `runLoad      ${String(rate).padStart(6)} rps offered: ${result.achievedRps.toFixed(0).padStart(6)} achieved  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms` +
        `  late ${result.lateSends}  cpu ${result.client.cpuShareOfOneCore} core  ${keptUp ? 'kept up' : 'fell behind'}${result.client.reason ? `; client-limited: ${result.client.reason}` : ''}`,
      );
      if (!keptUp) break;
      kept = result;
      if (!result.client.limitedByClient) healthy = result;
      rate = Math.round(rate * 1.2);
    }
    const describe = (result: LoadResult | undefined): string => result
      ? `${result.achievedRps.toFixed(0)} rps (${((result.achievedRps / closedBest.rps) * 100).toFixed(0)} % of the closed loop; p99 ${result.latency.p99} ms from intended send, client cpu ${result.client.cpuShareOfOneCore} core)`
      : 'below the first step';
    console.log('');
    console.log(`closed loop max:                 ${closedBest.rps.toFixed(0)} rps (concurrency ${closedBest.concurrency}, p99 ${closedBest.p99} ms from each send)`);
    console.log(`runLoad max kept up:             ${describe(kept)}`);
    console.log(`runLoad max with a healthy client: ${describe(healthy)}`);
  } finally {
    await agent.close();
    child.disconnect();
  }
}

async function closedLoop(agent: Agent, origin: string, concurrency: number, durationMs: number): Promise<{ rps: number; p50: number; p99: number; cpu: number }> {
  const histogram = createHistogram();
  const cpu = process.cpuUsage();
  const start = performance.now();
  let count = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() - start < durationMs) {
      const sentAt = performance.now();
      const response = await request(`${origin}/`, { dispatcher: agent });
      await response.body.dump();
      recordMs(histogram, performance.now() - sentAt);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const summary = summarize(histogram, { encode: false });
  return { rps: (count * 1000) / elapsed, p50: summary.p50, p99: summary.p99, cpu: (used.user + used.system) / 1000 / elapsed };
}
