/**
 * Starts the whole system as OS processes — one per service (split), or several services hosted
 * by one process as a placement says — and stops it in reverse. Used by `poc up`, `poc prove` and
 * the end-to-end tests alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { clientWorkloads, serviceEntry, startOrder, topology, type ServiceName } from '@msa-poc/contracts';
import { configEnv, endpointOf, type PlatformConfig } from '@msa-poc/platform/config';
import { ensurePki } from '@msa-poc/platform/pki';
import { ensureSigningKey } from '@msa-poc/platform/signatures';
import { placementOf, processOf, type HostProcess, type Placement } from './placement.js';

export interface ServiceProcess {
  readonly name: ServiceName;
  /** The process that hosts this service, shared with its co-located peers. */
  readonly child: ChildProcess;
  /** The name of that process (the service's own name when it runs alone). */
  readonly process: string;
  readonly url: string;
  readonly adminUrl: string;
}

export interface RunningSystem {
  readonly config: PlatformConfig;
  readonly services: ReadonlyMap<ServiceName, ServiceProcess>;
  /** Which services share a process. */
  readonly placement: Placement;
  /** Restarts the process that hosts a service (after a fault killed it), with all it hosts, and waits until they are ready. */
  restart(name: ServiceName): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly config: PlatformConfig;
  /** Receives every log line of every service, already parsed when it is JSON. */
  readonly onLog?: (service: ServiceName, line: string) => void;
  readonly onProgress?: (message: string) => void;
  readonly readyTimeoutMs?: number;
  readonly extraEnv?: Record<string, string>;
  /** Which services share a process; default: each its own (split). */
  readonly placement?: Placement;
  /** Node options for every service process that NODE_OPTIONS may not carry, e.g. --cpu-prof. */
  readonly execArgv?: readonly string[];
}

/** A compiled module of the program that runs `name`: `main.js` its entry point, `service.js` its definition. */
export const serviceModule = (name: ServiceName, module: 'main.js' | 'service.js'): string => fileURLToPath(new URL(`../../${serviceEntry(name).program ?? `services/${name}`}/dist/${module}`, import.meta.url));
export const serviceEntryPoint = (name: ServiceName): string => serviceModule(name, 'main.js');
const hostEntryPoint = fileURLToPath(new URL('./host.js', import.meta.url));

/** A service alone runs its own program; several share the generic host. */
const commandOf = (host: HostProcess): string[] =>
  host.services.length === 1 ? [serviceEntryPoint(host.services[0] as ServiceName)] : [hostEntryPoint, ...host.services];

/**
 * The Node flags of a service process; set here and nowhere else. Every process maps stack traces
 * to the TypeScript sources. A process whose services all have a small footprint (the synthetic
 * pass-throughs) trades some speed for memory, measured over `poc grow`'s 25 synthetic services:
 * - a 1 MB young generation instead of V8's up to 16 MB per semi-space: what such a service
 *   allocates per request dies young anyway (median 100 → 86 MB resident when it was set);
 * - `--optimize-for-size`, V8's switch for favouring memory size over execution speed: 2.2 MB
 *   less (78.6 → 76.4 MB, two runs each), for CPU per request across a 5-deep chain of 8.0 ms
 *   against 7.6 ms, inside the 7.1–10.2 ms that identical runs spread over on the shared machine.
 */
export function nodeFlagsOf(host: HostProcess): string[] {
  const small = host.services.every((name) => serviceEntry(name).footprint === 'small');
  return [...(small ? ['--max-semi-space-size=1', '--optimize-for-size'] : []), '--enable-source-maps'];
}

/** The service a log line of a shared process comes from (every line names it), else the process's first. */
function serviceOfLine(host: HostProcess, line: string): ServiceName {
  if (host.services.length === 1) return host.services[0] as ServiceName;
  const named = /"service":"([a-z]+)"/.exec(line)?.[1];
  return (host.services as readonly string[]).includes(named ?? '') ? named as ServiceName : host.services[0] as ServiceName;
}

/** Creates what a fresh machine lacks: the CA, the services' and the console's certificates, and the signing keys. */
export async function prepareIdentities(config: PlatformConfig): Promise<string[]> {
  const { issued } = await ensurePki({ dir: config.pkiDir, services: topology, clients: clientWorkloads.map((w) => w.name) });
  await ensureSigningKey(config.keysDir, 'gateway');
  await ensureSigningKey(config.keysDir, 'integration');
  await ensureSigningKey(config.keysDir, 'partner');
  return issued;
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function checkPorts(config: PlatformConfig): Promise<void> {
  const busy: string[] = [];
  for (const { name } of topology) {
    const endpoint = endpointOf(config, name);
    if (!(await portFree(endpoint.port, config.host))) busy.push(`${endpoint.port} (${name})`);
    if (!(await portFree(endpoint.adminPort, config.adminHost))) busy.push(`${endpoint.adminPort} (${name} admin)`);
  }
  if (busy.length > 0) {
    throw new Error(`port${busy.length > 1 ? 's' : ''} already in use: ${busy.join(', ')}. Stop what holds ${busy.length > 1 ? 'them' : 'it'} (\`ss -ltnp\` shows it; an earlier \`poc up\` may still run) or choose others, e.g. POC_GATEWAY_PORT=9443.`);
  }
}

async function waitReady(service: ServiceProcess, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = exited();
    if (exit) throw new Error(`${service.name} exited while starting: ${exit}`);
    try {
      const response = await fetch(`${service.adminUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
      const body = (await response.json()) as { checks?: { name: string; ok: boolean; error?: string }[] };
      last = (body.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.error}`).join('; ') || `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${service.name} was not ready within ${timeoutMs / 1000} s: ${last}`);
}

export async function startSystem(options: StartOptions): Promise<RunningSystem> {
  const { config } = options;
  const progress = options.onProgress ?? (() => undefined);
  await prepareIdentities(config);
  await checkPorts(config);
  const env = { ...process.env, ...configEnv(config), ...options.extraEnv };
  const placement = options.placement ?? placementOf(undefined);
  const services = new Map<ServiceName, ServiceProcess>();
  const children = new Map<string, ChildProcess>();
  const exits = new Map<string, string>();
  // A process that dies while starting is reported with what it said last, whether or not the caller keeps its logs.
  const lastLines = new Map<string, string[]>();

  // Each process gets its own process group, so that a Ctrl-C reaches only `poc`, which then stops
  // them in reverse order; the IPC channel closing tells a process that `poc` itself died.
  const spawnOne = (host: HostProcess): ServiceProcess[] => {
    exits.delete(host.name);
    const single = host.services.length === 1 ? (host.services[0] as ServiceName) : undefined;
    // POC_SERVICE tells a program that runs several services (the synthetic one) which it is.
    const child = spawn(process.execPath, [...nodeFlagsOf(host), ...(options.execArgv ?? []), ...commandOf(host)], { env: single ? { ...env, POC_SERVICE: single } : env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) {
        createInterface({ input: stream }).on('line', (line) => {
          const kept = lastLines.get(host.name) ?? [];
          // Stack frames and blank lines would push the message itself out of the few lines kept.
          if (line.trim() !== '' && !/^\s+at /.test(line)) kept.push(line);
          if (kept.length > 8) kept.shift();
          lastLines.set(host.name, kept);
          options.onLog?.(serviceOfLine(host, line), line);
        });
      }
    }
    lastLines.delete(host.name);
    child.once('exit', (code, signal) => exits.set(host.name, signal ? `signal ${signal}` : `exit code ${code}`));
    children.set(host.name, child);
    return host.services.map((name) => {
      const endpoint = endpointOf(config, name);
      const service: ServiceProcess = { name, child, process: host.name, url: endpoint.url, adminUrl: `http://${config.adminHost}:${endpoint.adminPort}` };
      services.set(name, service);
      return service;
    });
  };
  const ready = (service: ServiceProcess): Promise<void> =>
    waitReady(service, options.readyTimeoutMs ?? 60_000, () => {
      if (service.child.exitCode === null && service.child.signalCode === null) return undefined;
      const said = lastLines.get(service.process) ?? [];
      return `${exits.get(service.process) ?? 'exited'}${said.length > 0 ? `; its last lines:\n${said.map((line) => `  ${line}`).join('\n')}` : ''}`;
    });

  const stopOne = async (child: ChildProcess, graceMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const stop = async (): Promise<void> => {
    const order = [...placement.processes].reverse();
    const perProcess = Math.floor(9_000 / order.length);
    for (const host of order) {
      const child = children.get(host.name);
      if (child) {
        progress(`stopping ${host.services.length > 1 ? `${host.name} (${host.services.join(', ')})` : host.name}`);
        await stopOne(child, perProcess);
      }
    }
  };

  try {
    // All at once: each service reports ready only once what it depends on is reachable.
    progress(placement.name === 'split' ? `starting ${startOrder().join(', ')}` : `starting ${placement.processes.map((p) => `${p.name} (${p.services.join(', ')})`).join('; ')} [topology ${placement.name}]`);
    const started = placement.processes.flatMap(spawnOne);
    await Promise.all(started.map(async (service) => {
      await ready(service);
      progress(`${service.name} ready`);
    }));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    config,
    services,
    placement,
    restart: async (name) => {
      const host = processOf(placement, name);
      const current = children.get(host.name);
      if (current) await stopOne(current, 5_000);
      const restarted = spawnOne(host);
      await Promise.all(restarted.map(ready));
      return services.get(name) as ServiceProcess;
    },
    stop,
  };
}
