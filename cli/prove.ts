/**
 * `poc prove`: start the system behind fault proxies (or take one already running, `--target`),
 * run the proving harness, write the report.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storeContract, type Order } from '@msa-poc/contracts';
import { createClient } from '@msa-poc/platform/client';
import { loadConfig, type PlatformConfig } from '@msa-poc/platform/config';
import { loadIdentity, tlsClientOptions } from '@msa-poc/platform/identity';
import { ApiClient, loadOrCreateClientKey } from '@msa-poc/harness/api-client';
import type { OrderReader } from '@msa-poc/harness/audit';
import { prove } from '@msa-poc/harness/prove';
import type { ScenarioDefinition } from '@msa-poc/harness/scenario';
import { loadScenario } from '@msa-poc/harness/scenario';
import { startFaultProxy, type FaultProxy } from '@msa-poc/harness/proxy';
import { writeReport } from '@msa-poc/harness/report';
import type { Report } from '@msa-poc/harness/report-schema';
import { registerClient } from './clients.js';
import { startLinkedConsole, tracesBetween, type LinkedConsole } from './console-link.js';
import { startSystem, type RunningSystem } from './system.js';
import { processOf, split, type Placement } from './placement.js';

export interface ProveCommand {
  readonly env: Record<string, string | undefined>;
  readonly quick: boolean;
  readonly outDir: string | undefined;
  /** A TypeScript scenario (`defineScenario`); the default shop traffic when absent. */
  readonly scenarioFile: string | undefined;
  readonly seed: number;
  readonly json: boolean;
  readonly p99Ms: number;
  readonly errorBudget: number;
  /** A system already running, by its gateway's origin: no process is started, killed or paused. */
  readonly target?: TargetOptions;
  /** Which services share a process in the system this run starts; default split. */
  readonly placement?: Placement;
}

/** The topology in the report's words. */
export const describePlacement = (placement: Placement): string =>
  placement.name === 'split'
    ? 'split: one process per service, started by the harness'
    : `${placement.name}: ${placement.processes.map((p) => (p.services.length > 1 ? `${p.services.join(' + ')} in one process` : `${p.name} alone`)).join('; ')}, started by the harness`;

export interface TargetOptions {
  readonly origin: string;
  /** The API client the load runs as; it must be registered at the target. */
  readonly clientId: string;
  /** PEM file of the CA that issued the gateway's certificate; absent: the system's CAs. */
  readonly caFile: string | undefined;
}

/** The origin of a gateway to prove, or an error that says what a valid one looks like. */
export function parseTargetOrigin(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--target must be the gateway's https URL, e.g. https://127.0.0.1:8443, not "${raw}"`);
  }
  if (url.protocol !== 'https:') throw new Error(`--target must use https (the gateway speaks TLS only), not ${url.protocol.replace(':', '')}`);
  if (url.pathname !== '/' || url.search || url.hash || url.username) throw new Error(`--target is the gateway's origin only (scheme, host, port), without a path: ${url.origin}`);
  return url.origin;
}

/**
 * Reads an order back through the public API: the only view a --target run has. The audit reads
 * every acknowledged order, far more than a client's rate limit allows at once, so a 429 waits
 * for the time the gateway names and asks again.
 */
const apiOrderReader = (api: ApiClient): OrderReader => async (id) => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const reply = await api.call<Order>('GET', `/v1/orders/${encodeURIComponent(id)}`);
    if (reply.status !== 429) return reply.status === 200 ? reply.body : reply.status === 404 ? null : undefined;
    const retryAfterSeconds = Number(reply.headers['retry-after'] ?? 1);
    await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, Math.max(100, (Number.isFinite(retryAfterSeconds) ? retryAfterSeconds : 1) * 1000))));
  }
  return undefined;
};

export const timestamp = () => new Date().toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');

export async function runProve(command: ProveCommand): Promise<number> {
  const progress = (line: string) => {
    if (!command.json) process.stderr.write(`${line}\n`);
  };
  const baseConfig = loadConfig(command.env);
  // A broken scenario is reported before anything starts.
  const scenario = await scenarioOf(command);
  const outDir = resolve(command.outDir ?? join('reports', timestamp()));
  mkdirSync(outDir, { recursive: true });
  if (command.target) return proveTarget(command, command.target, baseConfig, scenario, outDir, progress);
  return finish(await proveStarted(command, scenario, outDir, progress), outDir, command.json);
}

/** Loads the scenario a run names (a broken one is reported before anything starts). */
export const scenarioOf = async (command: ProveCommand): Promise<ScenarioDefinition | undefined> =>
  command.scenarioFile ? loadScenario(command.scenarioFile, fileURLToPath(new URL('../../harness/.scenarios/', import.meta.url))) : undefined;

/** Starts the system in the command's topology behind the fault proxies, proves it, stops it; returns the report unwritten. */
export async function proveStarted(command: ProveCommand, scenario: ScenarioDefinition | undefined, outDir: string, progress: (line: string) => void): Promise<Report> {
  const baseConfig = loadConfig(command.env);
  mkdirSync(outDir, { recursive: true });
  const serviceLog = createWriteStream(join(outDir, 'services.log'));

  // Fault proxies sit in the paths production can break: callers → store, store → PostgreSQL.
  const proxies: FaultProxy[] = [];
  let system: RunningSystem | undefined;
  let api: ApiClient | undefined;
  let linked: LinkedConsole | undefined;
  const stopAll = async () => {
    await api?.close();
    await system?.stop();
    await linked?.console.stop();
    await Promise.allSettled(proxies.map((p) => p.close()));
    serviceLog.end();
  };
  const interrupted = () => {
    progress('\ninterrupted: stopping everything this run started');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const storeProxy = await startFaultProxy({ upstream: { host: '127.0.0.1', port: baseConfig.endpoints.store.port } });
    proxies.push(storeProxy);
    // The load client gets its own generous rate limit: limited like any client, but above any knee here.
    const loadClientPolicy = 'prove-load=20000:40000';
    const env: Record<string, string | undefined> = {
      ...command.env,
      POC_STORE_URL: `https://127.0.0.1:${storeProxy.listenPort}`,
      POC_RATE_LIMIT_CLIENTS: [command.env.POC_RATE_LIMIT_CLIENTS, loadClientPolicy].filter(Boolean).join(','),
    };
    let databaseProxy: FaultProxy | undefined;
    if (baseConfig.profile === 'production' && baseConfig.databaseUrl) {
      const url = new URL(baseConfig.databaseUrl);
      databaseProxy = await startFaultProxy({ upstream: { host: url.hostname, port: Number(url.port || 5432) } });
      proxies.push(databaseProxy);
      url.hostname = '127.0.0.1';
      url.port = String(databaseProxy.listenPort);
      env.POC_DATABASE_URL = url.toString();
    }
    // The console collects every span, so that the run can say where the steady state's time went.
    linked = await startLinkedConsole({ env, port: 0, otlpPort: 0, onLog: (line) => serviceLog.write(`console ${line}\n`) });
    const config: PlatformConfig = linked.config;
    progress(`poc prove: ${config.profile} profile${command.quick ? ', quick' : ''}, seed ${command.seed}; report in ${outDir}`);
    const placement = command.placement ?? split;
    system = await startSystem({ config, placement, onProgress: (m) => progress(`  ${m}`), onLog: (service, line) => serviceLog.write(`${service} ${line}\n`), extraEnv: { POC_STORE_URL: env.POC_STORE_URL as string, POC_RATE_LIMIT_CLIENTS: env.POC_RATE_LIMIT_CLIENTS as string, ...linked.env } });

    // The load client is a real OAuth client with its own key and a generous policy, not a bypass.
    const key = loadOrCreateClientKey(config.keysDir, 'prove-load');
    await registerClient(config, 'prove-load', [key.publicJwk], ['orders:read', 'orders:write']);
    api = new ApiClient(config.endpoints.gateway.url, 'prove-load', key, readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
    const store = createClient(storeContract, { origin: `${new URL(config.endpoints.store.url).protocol}//127.0.0.1:${config.endpoints.store.port}`, peer: 'store', connect: tlsClientOptions(loadIdentity(config.pkiDir, 'orders'), 'store') });
    const running = system;
    const collector = linked.console;
    const report = await prove(
      {
        description: describePlacement(placement),
        profile: config.profile,
        adminUrls: Object.fromEntries(Object.entries(config.endpoints).map(([name, e]) => [name, `http://${config.adminHost}:${e.adminPort}`])),
        processes: {
          signal: (service, signal) => running.services.get(service)?.child.kill(signal) ?? false,
          restart: async (service) => void (await running.restart(service)),
          sharing: (service) => processOf(placement, service).services,
        },
      },
      api,
      async (id) => {
        const reply = await store.client.getOrder({ headers: {}, params: { id } });
        return reply.status === 200 ? reply.body : reply.status === 404 ? null : undefined;
      },
      {
        quick: command.quick, seed: command.seed, objective: { p99Ms: command.p99Ms, errorBudget: command.errorBudget }, storeProxy, databaseProxy, progress, ...(scenario ? { scenario } : {}),
        ...(linked.receivesSpans ? { traces: async (from: number, to: number) => tracesBetween(collector, from, to) } : {}),
      },
    );
    await store.close();
    return report;
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await stopAll();
  }
}

async function finish(report: Awaited<ReturnType<typeof prove>>, outDir: string, json: boolean): Promise<number> {
  const files = await writeReport(report, outDir);
  const failed = report.checks.filter((c) => !c.pass);
  if (json) process.stdout.write(`${JSON.stringify({ report: files.json, html: files.html, summary: files.summary, pass: failed.length === 0, failed: failed.map((c) => c.name) })}\n`);
  else process.stdout.write(`\n${readFileSync(files.summary, 'utf8')}\nreport: ${files.html}\n`);
  return failed.length === 0 ? 0 : 1;
}

/**
 * Proves a system this run did not start: load, capacity, steady state and the integrity audit
 * through the public API. Faults that need its processes or its admin ports are skipped, and the
 * report says so.
 */
async function proveTarget(command: ProveCommand, target: TargetOptions, config: PlatformConfig, scenario: ScenarioDefinition | undefined, outDir: string, progress: (line: string) => void): Promise<number> {
  const key = loadOrCreateClientKey(config.keysDir, target.clientId);
  const publicJwkFile = join(config.keysDir, `${target.clientId}.public.jwk`);
  if (!existsSync(publicJwkFile)) writeFileSync(publicJwkFile, `${JSON.stringify(key.publicJwk)}\n`);
  let ca: string | undefined;
  if (target.caFile) {
    try {
      ca = readFileSync(target.caFile, 'utf8');
    } catch (error) {
      throw new Error(`cannot read the CA certificate ${target.caFile} given with --ca: ${(error as Error).message}`);
    }
  }
  const api = new ApiClient(target.origin, target.clientId, key, ca);
  try {
    progress(`poc prove: the system at ${target.origin} (--target), as client ${target.clientId}${command.quick ? ', quick' : ''}, seed ${command.seed}; report in ${outDir}`);
    try {
      await api.accessToken();
    } catch (error) {
      const message = (error as Error).message;
      if (/invalid_client/.test(message)) {
        throw new Error(`${target.origin} does not know the client ${target.clientId}. Register its public key there, e.g.:\n  npx poc client add ${target.clientId} --jwk ${publicJwkFile} --scope "orders:read orders:write"\nthen run this again. (${message})`);
      }
      throw new Error(`cannot get a token from ${target.origin}: ${message}${/certificate|self.signed|UNABLE_TO/i.test(message) ? '; pass the CA that issued its certificate with --ca FILE' : ''}`);
    }
    const report = await prove(
      { description: `a running system at ${target.origin} (--target), not started by this run`, profile: 'unknown', adminUrls: {} },
      api,
      apiOrderReader(api),
      { quick: command.quick, seed: command.seed, objective: { p99Ms: command.p99Ms, errorBudget: command.errorBudget }, storeProxy: undefined, databaseProxy: undefined, progress, ...(scenario ? { scenario } : {}) },
    );
    return await finish(report, outDir, command.json);
  } finally {
    await api.close();
  }
}
