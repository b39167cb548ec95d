/**
 * The chassis that runs a service: configuration, identity, logging, metrics, typed clients for
 * its dependencies, the mTLS server, the admin port, readiness, and graceful shutdown. A service
 * declares what it is; this file makes it a process.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { serviceEntry, spiffeId, type ServiceContract, type ServiceName } from '@msa-poc/contracts';
import { createAdminServer } from './admin.js';
import type { ReadinessCheck } from './admin.js';
import { createClient, type Client, type ClientHandle, type ClientOptions } from './client.js';
import { listenError, loadConfig, type BenchFeature, type PlatformConfig } from './config.js';
import { loadIdentity, spiffeIdOf, tlsClientOptions, tlsServerOptions, type ServiceIdentity, type TlsClientOptions } from './identity.js';
import { Metrics } from './metrics.js';
import type { ComponentRegistry } from './inprocess.js';
import { createServer, type Handlers } from './server.js';
import { stopOnSignals } from './shutdown.js';
import { createLogger, type Logger } from './telemetry.js';
import { createTracing, type Tracer } from './tracing.js';

type Dependencies = Readonly<Record<string, ServiceContract>>;

export interface ServiceContext<D extends Dependencies> {
  readonly name: ServiceName;
  readonly config: PlatformConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** This service's tracer, for spans of work that is not a request or a call (database statements, event hops). */
  readonly tracer: Tracer;
  /** Typed clients, one per dependency, over mutual TLS. */
  readonly clients: { readonly [K in keyof D]: Client<D[K]> };
}

export interface ServiceInstance<C extends ServiceContract> {
  readonly handlers: Handlers<C>;
  /** What must be reachable before this service takes traffic. */
  readonly readiness?: readonly ReadinessCheck[];
  /** Extra loopback-only admin routes (fault hooks, ledgers). */
  readonly admin?: (app: FastifyInstance) => void;
  /** Background work started once the server listens (consumers, relays). */
  readonly start?: () => Promise<void>;
  /** Called the moment shutdown begins, before in-flight requests drain: end long polls here. */
  readonly drain?: () => void;
  /** Stops background work; called after the server stopped taking requests, before pools close. */
  readonly stop?: () => Promise<void>;
}

export interface ServiceDefinition<C extends ServiceContract, D extends Dependencies> {
  readonly contract: C;
  readonly dependencies: D;
  /** Per-dependency client settings beyond the defaults (timeouts, a request signer). */
  readonly clientOptions?: (context: { config: PlatformConfig; env: Readonly<Record<string, string | undefined>> }) => Partial<Record<keyof D, Partial<ClientOptions>>>;
  readonly setup: (context: ServiceContext<D>) => Promise<ServiceInstance<C>>;
}

export const defineService = <C extends ServiceContract, D extends Dependencies>(definition: ServiceDefinition<C, D>): ServiceDefinition<C, D> => definition;

export interface RunningService {
  readonly name: ServiceName;
  readonly port: number;
  readonly adminPort: number;
  readonly log: Logger;
  /** Graceful stop: stop taking requests, drain in-flight ones, stop background work, close pools. */
  close(): Promise<void>;
}

/**
 * Internal peers get our certificate (or plain HTTP, with the mtls bench switch off); the public
 * edge and external parties authenticate us otherwise.
 */
function clientTls(identity: ServiceIdentity, peer: ServiceName, mtls: boolean): TlsClientOptions | undefined {
  const internal = serviceEntry(peer).exposure === 'internal';
  if (internal && !mtls) return undefined;
  const options = tlsClientOptions(identity, peer);
  if (internal) return options;
  const { cert: _cert, key: _key, ...withoutCertificate } = options;
  return withoutCertificate as TlsClientOptions;
}

export interface StartOptions {
  /** The components this process hosts: a dependency among them is called in-process, not over the network. */
  readonly registry?: ComponentRegistry;
}

export async function startService<C extends ServiceContract, D extends Dependencies>(
  definition: ServiceDefinition<C, D>,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: StartOptions = {},
): Promise<RunningService> {
  const { registry } = options;
  const name = definition.contract.service;
  const entry = serviceEntry(name);
  const config = loadConfig(env);
  const log = createLogger(name, config.logLevel);
  const switchedOff = config.benchDisabled;
  const metrics = new Metrics(name, { record: !switchedOff.has('metrics') });
  if (switchedOff.size > 0) {
    metrics.nameBenchVariant(switchedOff);
    log.warn({ benchDisabled: [...switchedOff] }, benchWarning(name, switchedOff));
  }
  // The SDK's reports on itself are metrics too: with metrics off they go nowhere.
  const tracing = createTracing({ service: name, settings: config.tracing, ...(metrics.recording ? { metrics } : {}), log });
  const { tracer } = tracing;
  const identity = loadIdentity(config.pkiDir, name);
  const endpoint = config.endpoints[name];

  const extra: Partial<Record<keyof D, Partial<ClientOptions>>> = definition.clientOptions?.({ config, env }) ?? {};
  const handles: ClientHandle<ServiceContract>[] = [];
  const peerChecks: ReadinessCheck[] = [];
  const clients: Record<string, Client<ServiceContract>> = {};
  for (const [key, contract] of Object.entries(definition.dependencies)) {
    const peer = contract.service;
    const handle = createClient(contract, {
      origin: config.endpoints[peer].url,
      peer,
      ...(registry?.hosts(peer)
        ? { transport: registry.transport(peer, name) }
        // External parties get no client certificate of ours: they authenticate our signatures instead.
        : { connect: clientTls(identity, peer, !switchedOff.has('mtls')) }),
      metrics,
      tracer,
      validateResponses: !switchedOff.has('validation'),
      ...extra[key as keyof D],
    });
    handles.push(handle);
    clients[key] = handle.client;
    if (serviceEntry(peer).exposure === 'internal') peerChecks.push({ name: peer, check: () => handle.ping() });
  }

  let accepting = false;
  const context: ServiceContext<D> = { name, config, env, log, metrics, tracer, clients: clients as ServiceContext<D>['clients'] };
  const instance = await definition.setup(context);

  const server = await createServer({
    contract: definition.contract,
    handlers: instance.handlers,
    tls: entry.exposure === 'internal' && switchedOff.has('mtls') ? undefined : tlsServerOptions(identity, { requireClientCert: entry.exposure === 'internal' }),
    exposure: entry.exposure,
    publicOrigin: endpoint.url,
    validateRequests: !switchedOff.has('validation'),
    log,
    metrics,
    tracer,
    ...(registry ? { localCallers: registry } : {}),
  });
  registry?.register(name, server);
  const admin = createAdminServer({ service: name, metrics, checks: () => [...(instance.readiness ?? []), ...peerChecks], accepting: () => accepting });
  instance.admin?.(admin);

  try {
    await server.listen({ port: endpoint.port, host: config.host });
  } catch (error) {
    registry?.unregister(name);
    throw portError(error, name, 'port', endpoint.port);
  }
  try {
    await admin.listen({ port: endpoint.adminPort, host: config.adminHost });
  } catch (error) {
    registry?.unregister(name);
    await server.close();
    throw portError(error, name, 'admin port', endpoint.adminPort);
  }
  if (instance.start) {
    await untilReachable(peerChecks, log);
    await instance.start();
  }
  accepting = true;
  log.info({ port: endpoint.port, adminPort: endpoint.adminPort, profile: config.profile }, `${name} ready`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      log.info(`${name} stopping: draining in-flight requests`);
      instance.drain?.();
      await server.close();
      registry?.unregister(name);
      await instance.stop?.();
      await Promise.allSettled(handles.map((h) => h.close()));
      await admin.close();
      // Briefly: a collector that is down must not hold up the stop.
      await tracing.shutdown(1_000);
      log.info(`${name} stopped`);
    })();
    return closing;
  };
  return { name, port: endpoint.port, adminPort: endpoint.adminPort, log, close };
}

/** What a service started with bench switches says first: which features are off, and what that means for its figures. */
function benchWarning(name: ServiceName, off: ReadonlySet<BenchFeature>): string {
  const outbox = off.has('outbox') ? ' Placed orders write no outbox event, so no order is ever fulfilled.' : '';
  return `${name} runs with ${[...off].join(', ')} switched off (POC_BENCH_DISABLE), for \`npm run bench\` only: what it does and measures is that variant, not the system as shipped.${outbox}`;
}

/**
 * Background work (a feed poller, a relay) starts once the peers it needs answer: started with
 * everything at once, a service would otherwise spend its first seconds failing against a
 * neighbour that is still starting, and open its breakers for nothing.
 */
async function untilReachable(checks: readonly ReadinessCheck[], log: Logger, retryMs = 200, reportEveryMs = 10_000): Promise<void> {
  const started = Date.now();
  let reported = 0;
  for (;;) {
    const results = await Promise.all(checks.map(async ({ name, check }) => {
      try {
        await check();
        return undefined;
      } catch {
        return name;
      }
    }));
    const waiting = results.filter((name): name is string => name !== undefined);
    if (waiting.length === 0) return;
    if (Date.now() - reported >= reportEveryMs) {
      reported = Date.now();
      log.info({ waitingFor: waiting, waitedMs: reported - started }, `waiting for ${waiting.join(', ')} before starting background work`);
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

function portError(error: unknown, service: string, what: 'port' | 'admin port', port: number): Error {
  return listenError(error, what === 'port' ? service : `${service}'s admin server`, port, `POC_${service.toUpperCase()}_${what === 'port' ? 'PORT' : 'ADMIN_PORT'}`);
}

/**
 * What `main.js --self-check` verifies before exiting, without opening a port or reaching a neighbour:
 * the configuration loads, and the identity is this service's (its SPIFFE id, a key that matches, a
 * chain to the CA). A container image is smoke-tested with it.
 */
export function selfCheck(name: ServiceName, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const config = loadConfig(env);
  const identity = loadIdentity(config.pkiDir, name);
  const cert = new X509Certificate(identity.cert);
  const found = spiffeIdOf({ subjectaltname: cert.subjectAltName });
  if (found !== spiffeId(name)) throw new Error(`${config.pkiDir}/${name}.crt names ${found ?? 'no SPIFFE id'}, not ${spiffeId(name)}; issue ${name} its own certificate`);
  if (!cert.checkPrivateKey(createPrivateKey(identity.key))) throw new Error(`${config.pkiDir}/${name}.key does not belong to ${name}.crt; issue them again together`);
  if (!cert.checkIssued(new X509Certificate(identity.ca))) throw new Error(`${config.pkiDir}/${name}.crt is not issued by ${config.pkiDir}/ca.crt; issue it again from that CA`);
  return `${name}: ${config.profile} configuration and identity ${spiffeId(name)} are valid (certificate until ${cert.validTo})`;
}

/** Entry point of a service process: start, then stop gracefully on SIGINT/SIGTERM within 10 s. */
export async function runService<C extends ServiceContract, D extends Dependencies>(definition: ServiceDefinition<C, D>): Promise<void> {
  if (process.argv.includes('--self-check')) {
    try {
      process.stdout.write(`${selfCheck(definition.contract.service)}\n`);
      process.exit(0);
    } catch (error) {
      process.stderr.write(`${definition.contract.service} self-check failed: ${(error as Error).message}\n`);
      process.exit(1);
    }
  }
  let running: RunningService;
  try {
    running = await startService(definition);
  } catch (error) {
    process.stderr.write(`${definition.contract.service} failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  stopOnSignals({ log: running.log, close: () => running.close() });
  process.on('unhandledRejection', (error) => running.log.error({ err: error }, 'unhandled rejection'));
}

export type { Client } from './client.js';
export type { Caller, Handler, Handlers, HttpView } from './server.js';
export type { ReadinessCheck } from './admin.js';
