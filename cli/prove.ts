/** `poc prove`: start the system behind fault proxies, run the proving harness, write the report. */
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storeContract } from '@msa-poc/contracts';
import { createClient } from '@msa-poc/platform/client';
import { loadConfig, type PlatformConfig } from '@msa-poc/platform/config';
import { loadIdentity, tlsClientOptions } from '@msa-poc/platform/identity';
import { ApiClient, loadOrCreateClientKey } from '@msa-poc/harness/api-client';
import { prove } from '@msa-poc/harness/prove';
import { loadScenario } from '@msa-poc/harness/scenario';
import { startFaultProxy, type FaultProxy } from '@msa-poc/harness/proxy';
import { writeReport } from '@msa-poc/harness/report';
import { registerClient } from './clients.js';
import { startSystem, type RunningSystem } from './system.js';

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
}

const timestamp = () => new Date().toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');

export async function runProve(command: ProveCommand): Promise<number> {
  const progress = (line: string) => {
    if (!command.json) process.stderr.write(`${line}\n`);
  };
  const baseConfig = loadConfig(command.env);
  // A broken scenario is reported before anything starts.
  const scenario = command.scenarioFile ? await loadScenario(command.scenarioFile, fileURLToPath(new URL('../../harness/.scenarios/', import.meta.url))) : undefined;
  const outDir = resolve(command.outDir ?? join('reports', timestamp()));
  mkdirSync(outDir, { recursive: true });
  const serviceLog = createWriteStream(join(outDir, 'services.log'));

  // Fault proxies sit in the paths production can break: callers → store, store → PostgreSQL.
  const proxies: FaultProxy[] = [];
  let system: RunningSystem | undefined;
  let api: ApiClient | undefined;
  const stopAll = async () => {
    await api?.close();
    await system?.stop();
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
    const config: PlatformConfig = loadConfig(env);
    progress(`poc prove: ${config.profile} profile${command.quick ? ', quick' : ''}, seed ${command.seed}; report in ${outDir}`);
    system = await startSystem({ config, onProgress: (m) => progress(`  ${m}`), onLog: (service, line) => serviceLog.write(`${service} ${line}\n`), extraEnv: { POC_STORE_URL: env.POC_STORE_URL as string, POC_RATE_LIMIT_CLIENTS: env.POC_RATE_LIMIT_CLIENTS as string } });

    // The load client is a real OAuth client with its own key and a generous policy, not a bypass.
    const key = loadOrCreateClientKey(config.keysDir, 'prove-load');
    await registerClient(config, 'prove-load', [key.publicJwk], ['orders:read', 'orders:write']);
    api = new ApiClient(config.endpoints.gateway.url, 'prove-load', key, readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
    const store = createClient(storeContract, { origin: `https://127.0.0.1:${config.endpoints.store.port}`, peer: 'store', connect: tlsClientOptions(loadIdentity(config.pkiDir, 'orders'), 'store') });
    const running = system;
    const report = await prove(
      {
        config,
        signal: (service, signal) => running.services.get(service)?.child.kill(signal) ?? false,
        restart: async (service) => void (await running.restart(service)),
      },
      api,
      store.client,
      { quick: command.quick, seed: command.seed, objective: { p99Ms: command.p99Ms, errorBudget: command.errorBudget }, storeProxy, databaseProxy, progress, ...(scenario ? { scenario } : {}) },
    );
    await store.close();
    const files = await writeReport(report, outDir);
    const failed = report.checks.filter((c) => !c.pass);
    if (command.json) process.stdout.write(`${JSON.stringify({ report: files.json, html: files.html, summary: files.summary, pass: failed.length === 0, failed: failed.map((c) => c.name) })}\n`);
    else process.stdout.write(`\n${readFileSync(files.summary, 'utf8')}\nreport: ${files.html}\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await stopAll();
  }
}
