/**
 * Whether the open-model load client can drive a system as hard as autocannon: both drive the same
 * plain Fastify route (in a process of its own) with the same number of connections; autocannon as
 * a closed loop, the load client at an offered rate half again above what autocannon reached, so
 * that what it achieves is its own ceiling. A closed loop of plain undici requests on the same
 * agent tells the HTTP client's share of the gap from the load generator's.
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
    const cannon = await autocannon({ url, connections, duration: Math.max(1, Math.round(durationMs / 1000)) });
    const autocannonRps = round(cannon.requests.total / (cannon.duration || durationMs / 1000), 0);
    progress(`  autocannon: ${autocannonRps} rps (${connections} connections, ${cannon.duration} s)`);

    const get: Operation = {
      name: 'get',
      run: async (deadline) => ({ status: (await transport.send({ method: 'GET', path: '/', cancelledBy: deadline })).status }),
    };
    const closedLoopRps = round(await closedLoop(transport, durationMs), 0);
    progress(`  undici closed loop: ${closedLoopRps} rps (${connections} concurrent requests on the load client's agent)`);

    const offered = Math.round(autocannonRps * 1.5);
    await runLoad({ shape: constant(Math.round(offered / 4)), durationMs: 1_000, next: () => get, timeoutMs: 2_000, maxInFlight: connections });
    const result = await runLoad({ shape: constant(offered), durationMs, next: () => get, timeoutMs: 2_000, maxInFlight: connections });
    const loadClientRps = round(result.achievedRps, 0);
    progress(`  load client: ${loadClientRps} rps achieved of ${offered} offered (at most ${connections} in flight; client CPU ${result.client.cpuShareOfOneCore} of a core)`);
    return { autocannonRps, undiciClosedLoopRps: closedLoopRps, loadClientRps, connections, durationMs };
  } finally {
    await transport.close();
    await route.stop();
  }
}

/** Requests per second of `connections` loops that each send the next request when the last one is answered. */
async function closedLoop(transport: HttpTransport, durationMs: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() - start < durationMs) {
      await transport.send({ method: 'GET', path: '/' });
      count++;
    }
  }));
  return (count * 1000) / (performance.now() - start);
}
