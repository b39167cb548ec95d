/**
 * Whether the open-model load client can drive a system as hard as autocannon: both drive the same
 * plain Fastify route (in a process of its own) with the same number of connections; autocannon as
 * a closed loop, the load client at an offered rate half again above what autocannon reached, so
 * that what it achieves is its own ceiling. A closed loop of requests on the load client's own
 * transport (`harness/http.ts`, a hand-written HTTP/1.1 client over `node:net`, which replaced
 * undici's `Pool` when it cost 14–22 µs of CPU per request here against its 9.3–10.7) tells the HTTP
 * client's share of the gap from the load generator's.
 * Each phase also reports the client's CPU time per answered request: on a shared machine the rates
 * of phases run one after the other move with the neighbours' load, its cost per request much less.
 */
import autocannon from 'autocannon';
import { HttpTransport } from '@msa-poc/harness/http';
import { constant, runLoad, type Operation } from '@msa-poc/harness/load';
import { round } from '@msa-poc/harness/numbers';
import { startHelper } from './child.js';
import type { ClientComparison } from './results.js';

const connections = 64;

export async function compareWithAutocannon(durationMs: number, progress: (line: string) => void): Promise<ClientComparison> {
  const route = await startHelper('./plain-route.js');
  const url = `http://127.0.0.1:${route.port}/`;
  const transport = new HttpTransport(url, { connections });
  try {
    await autocannon({ url, connections, duration: 1 }); // warm-up: JIT and connections
    let cpu = process.cpuUsage();
    const cannon = await autocannon({ url, connections, duration: Math.max(1, Math.round(durationMs / 1000)) });
    const autocannonRps = round(cannon.requests.total / (cannon.duration || durationMs / 1000), 0);
    progress(`  autocannon: ${autocannonRps} rps (${connections} connections, ${cannon.duration} s; ${cpuPerRequest(cpu, cannon.requests.total)} µs client CPU per request)`);

    const get: Operation = {
      name: 'get',
      run: async (deadline) => ({ status: (await transport.send({ method: 'GET', path: '/', cancelledBy: deadline })).status }),
    };
    cpu = process.cpuUsage();
    const closed = await closedLoop(transport, durationMs);
    const closedLoopRps = round(closed.rps, 0);
    progress(`  transport closed loop: ${closedLoopRps} rps (${connections} concurrent requests on the load client's transport; ${cpuPerRequest(cpu, closed.count)} µs client CPU per request)`);

    const offered = Math.round(autocannonRps * 1.5);
    await runLoad({ shape: constant(Math.round(offered / 4)), durationMs: 1_000, next: () => get, timeoutMs: 2_000, maxInFlight: connections });
    const result = await runLoad({ shape: constant(offered), durationMs, next: () => get, timeoutMs: 2_000, maxInFlight: connections });
    const loadClientRps = round(result.achievedRps, 0);
    const loadCpuUs = ((result.client.cpuUserMs + result.client.cpuSystemMs) * 1000) / Math.max(1, result.succeeded);
    progress(`  load client: ${loadClientRps} rps achieved of ${offered} offered (at most ${connections} in flight; client CPU ${result.client.cpuShareOfOneCore} of a core, ${round(loadCpuUs, 1)} µs per answered request, refused arrivals included; errors ${JSON.stringify(result.errors)})`);
    return { autocannonRps, transportClosedLoopRps: closedLoopRps, loadClientRps, connections, durationMs };
  } finally {
    await transport.close();
    await route.stop();
  }
}

/** Requests per second of `connections` loops that each send the next request when the last one is answered. */
async function closedLoop(transport: HttpTransport, durationMs: number): Promise<{ rps: number; count: number }> {
  const start = performance.now();
  let count = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() - start < durationMs) {
      await transport.send({ method: 'GET', path: '/' });
      count++;
    }
  }));
  return { rps: (count * 1000) / (performance.now() - start), count };
}

function cpuPerRequest(since: NodeJS.CpuUsage, requests: number): number {
  const used = process.cpuUsage(since);
  return round((used.user + used.system) / Math.max(1, requests), 1);
}
