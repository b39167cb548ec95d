/**
 * The systems a bench run loads: the real one (every feature, or one switched off with
 * POC_BENCH_DISABLE) on the embedded profile, and the bare chain. Each is started in a private
 * home on free ports and stopped before the next starts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceEnvName, topology } from '@msa-poc/contracts';
import { loadConfig } from '@msa-poc/platform/config';
import { ApiClient, loadOrCreateClientKey, type ApiCaller } from '@msa-poc/harness/api-client';
import { registerClient } from '@msa-poc/cli/clients';
import { split, type Placement } from '@msa-poc/cli/placement';
import { startSystem } from '@msa-poc/cli/system';
import { freeServicePorts } from '@msa-poc/cli/testing';
import { startBareChain } from './bare/chain.js';
import { PlainCaller } from './callers.js';
import type { BenchFeature } from './variants.js';

export interface SystemUnderTest {
  readonly caller: ApiCaller;
  /** The processes, by name (a service's, or a co-located host's): their CPU and memory are the variant's. */
  readonly pids: ReadonlyMap<string, number>;
  /** The last lines the services logged, for an error message. */
  readonly logTail: () => string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  /** OTLP/HTTP traces endpoint every span is exported to. */
  readonly spanSink: string;
  /** Node options of the service processes (--cpu-prof). */
  readonly execArgv: readonly string[];
  readonly progress: (line: string) => void;
}

const loadClient = 'bench-load';

function logKeeper() {
  const lines: string[] = [];
  return { lines, keep: (service: string, line: string) => { lines.push(`${service} ${line}`); if (lines.length > 200) lines.shift(); } };
}

/** The real system, every span sampled and exported, with the features `without` names switched off, its services placed by `placement`. */
export async function startFull(without: readonly BenchFeature[], options: StartOptions, placement: Placement = split): Promise<SystemUnderTest> {
  const home = mkdtempSync(join(tmpdir(), 'msa-poc-bench-'));
  const benchEnv: Record<string, string> = {
    // Far above any knee here, so that the knee is the system's, not the rate limit's; with auth off
    // the gateway acts for the client "bench".
    POC_RATE_LIMIT_CLIENTS: `${loadClient}=100000:200000,bench=100000:200000`,
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: options.spanSink, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1',
    ...(without.length > 0 ? { POC_BENCH_DISABLE: without.join(',') } : {}),
  };
  const env: Record<string, string | undefined> = { ...process.env, POC_HOME: home, POC_PROFILE: 'embedded', ...(await freeServicePorts()), ...benchEnv };
  for (const entry of topology) delete env[serviceEnvName(entry.name, 'URL')];
  const logs = logKeeper();
  const cleanUp = () => rmSync(home, { recursive: true, force: true });
  let system: Awaited<ReturnType<typeof startSystem>>;
  try {
    const config = loadConfig(env);
    system = await startSystem({ config, onLog: logs.keep, onProgress: (m) => options.progress(`    ${m}`), extraEnv: { POC_HOME: home, ...benchEnv }, execArgv: options.execArgv, placement });
  } catch (error) {
    cleanUp();
    throw new Error(`${(error as Error).message}\n${logs.lines.slice(-20).join('\n')}`);
  }
  const { config } = system;
  const ca = readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8');
  let caller: ApiClient | PlainCaller;
  if (without.includes('auth')) caller = new PlainCaller(config.endpoints.gateway.url, ca);
  else {
    // A real OAuth client with its own key: a token per ten minutes and a DPoP proof per request.
    const key = loadOrCreateClientKey(config.keysDir, loadClient);
    await registerClient(config, loadClient, [key.publicJwk], ['orders:read', 'orders:write']);
    caller = new ApiClient(config.endpoints.gateway.url, loadClient, key, ca);
  }
  return {
    caller,
    // One entry per process: co-located services share one, whose CPU must count once.
    pids: new Map([...system.services.values()].map((s) => [s.process, s.child.pid as number])),
    logTail: () => logs.lines.slice(-20),
    stop: async () => {
      await caller.close();
      await system.stop();
      cleanUp();
    },
  };
}

/** The bare chain on a fresh PGlite database. */
export async function startBare(options: StartOptions): Promise<SystemUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), 'msa-poc-bench-bare-'));
  const logs = logKeeper();
  try {
    const chain = await startBareChain({ dataDir, execArgv: options.execArgv, onLog: logs.keep });
    const caller = new PlainCaller(chain.url);
    return {
      caller,
      pids: new Map([...chain.processes].map(([name, child]) => [name, child.pid as number])),
      logTail: () => logs.lines.slice(-20),
      stop: async () => {
        await caller.close();
        await chain.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${logs.lines.slice(-20).join('\n')}`);
  }
}
