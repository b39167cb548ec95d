/** Support for tests that start the real system: free ports, a private home, typed clients. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deadLetterStream, orderStream, topology, type ServiceContract, type WorkloadName } from '@msa-poc/contracts';
import { connectBroker } from '@msa-poc/platform/broker';
import { createClient, type ClientHandle } from '@msa-poc/platform/client';
import { loadConfig, type PlatformConfig } from '@msa-poc/platform/config';
import { loadIdentity, tlsClientOptions } from '@msa-poc/platform/identity';
import { ApiClient, loadOrCreateClientKey } from '@msa-poc/harness/api-client';
import type { RunningConsole } from '@msa-poc/console/console';
import { registerClient } from './clients.js';
import { startLinkedConsole, type LinkedConsole } from './console-link.js';
import { startSystem, type RunningSystem } from './system.js';
import { placementOf } from './placement.js';

/**
 * `count` distinct ports the OS reports free right now. All are held open until every one is
 * chosen: asked one at a time, the OS may hand out the same free port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Every service's port and admin port, on distinct free ports. */
export async function freeServicePorts(): Promise<Record<string, string>> {
  const ports = await freePorts(topology.length * 2);
  return Object.fromEntries(topology.flatMap((entry, i) => [
    [`POC_${entry.name.toUpperCase()}_PORT`, String(ports[2 * i])],
    [`POC_${entry.name.toUpperCase()}_ADMIN_PORT`, String(ports[2 * i + 1])],
  ]));
}

/** Creates an empty database next to the one `adminUrl` names; `drop` removes it. */
export async function createScratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `poc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`cannot reach PostgreSQL at ${adminUrl.replace(/\/\/[^@]*@/, '//')} for the production-profile tests: ${(error as Error).message}. Start it (see .ci/run) or set POC_TEST_DATABASE_URL.`);
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface TestSystem extends RunningSystem {
  readonly home: string;
  /** An OAuth client of the public API with both scopes, registered for this system. */
  readonly api: ApiClient;
  /** A registered API client of the gateway; with `customerId`, one that acts for that customer only; `roles` for support access. */
  apiClient(id: string, scopes: string[], customerId?: string, roles?: string[]): Promise<ApiClient>;
  readonly logs: string[];
  /** The console the services send their spans to, when the test asked for one (`withConsole`). */
  readonly console: RunningConsole | undefined;
  /** A typed client that calls `contract`'s service with the certificate of `as` (a service, or the console). */
  client<C extends ServiceContract>(contract: C, as: WorkloadName): ClientHandle<C>;
  dispose(): Promise<void>;
}

export async function startTestSystem(options: { profile?: 'embedded' | 'production'; env?: Record<string, string>; withConsole?: boolean; topology?: 'split' | 'colocated' } = {}): Promise<TestSystem> {
  const home = mkdtempSync(join(tmpdir(), 'msa-poc-test-'));
  // Spans stay in the test unless it asks for them: whatever listens on the default OTLP port is not ours.
  const testEnv = { POC_RATE_LIMIT_CLIENTS: 'test-client=5000:10000,rationed=1:2', ...(options.withConsole ? {} : { OTEL_TRACES_EXPORTER: 'none' }), ...options.env };
  const env: Record<string, string | undefined> = { ...process.env, POC_HOME: home, POC_PROFILE: options.profile ?? 'embedded', POC_LOG_LEVEL: 'info', ...testEnv };
  Object.assign(env, await freeServicePorts());
  // Where each service is reached comes from its port, unless the test itself says otherwise.
  for (const entry of topology) {
    const variable = `POC_${entry.name.toUpperCase()}_URL`;
    if (!options.env?.[variable]) delete env[variable];
  }
  let dropDatabase = async (): Promise<void> => undefined;
  if (env.POC_PROFILE === 'production') {
    // A database of its own per test system, and a clean event stream: runs never see each other's orders.
    const fresh = await createScratchDatabase(process.env.POC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    env.POC_DATABASE_URL = fresh.url;
    dropDatabase = fresh.drop;
    env.POC_NATS_URL ||= process.env.POC_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
    env.POC_REDIS_URL ||= process.env.POC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const broker = await connectBroker({ url: env.POC_NATS_URL, name: 'test-setup' });
    await broker.deleteStream(orderStream.name);
    await broker.deleteStream(deadLetterStream.name);
    await broker.close();
  }
  let config: PlatformConfig = loadConfig(env);
  const logs: string[] = [];
  const handles: ClientHandle<ServiceContract>[] = [];
  let system: RunningSystem;
  let linked: LinkedConsole | undefined;
  try {
    // On free ports of its own, started first: spans go there instead of nowhere.
    if (options.withConsole) linked = await startLinkedConsole({ env, port: 0, otlpPort: 0, onLog: (line) => logs.push(`console ${line}`) });
    config = linked?.config ?? config;
    system = await startSystem({ config, placement: placementOf(options.topology), onLog: (service, line) => logs.push(`${service} ${line}`), extraEnv: { POC_HOME: home, ...testEnv, ...linked?.env } });
  } catch (error) {
    process.stderr.write(logs.slice(-40).join('\n'));
    await linked?.console.stop();
    rmSync(home, { recursive: true, force: true });
    await dropDatabase();
    throw error;
  }
  const apiClients: ApiClient[] = [];
  const apiClient = async (id: string, scopes: string[], customerId?: string, roles: string[] = []): Promise<ApiClient> => {
    const key = loadOrCreateClientKey(config.keysDir, id);
    await registerClient(config, id, [key.publicJwk], scopes, customerId, roles);
    const client = new ApiClient(config.endpoints.gateway.url, id, key, readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
    apiClients.push(client);
    return client;
  };
  const api = await apiClient('test-client', ['orders:read', 'orders:write']);
  return {
    ...system,
    home,
    api,
    apiClient,
    logs,
    console: linked?.console,
    client(contract, as) {
      const handle = createClient(contract, { origin: config.endpoints[contract.service].url, peer: contract.service, connect: tlsClientOptions(loadIdentity(config.pkiDir, as), contract.service) });
      handles.push(handle as unknown as ClientHandle<ServiceContract>);
      return handle;
    },
    async dispose() {
      await Promise.allSettled([...handles.map((h) => h.close()), ...apiClients.map((c) => c.close())]);
      await system.stop();
      await linked?.console.stop();
      rmSync(home, { recursive: true, force: true });
      await dropDatabase();
    },
  };
}

/** Polls `fn` until it yields a value, or fails naming what it waited for. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
