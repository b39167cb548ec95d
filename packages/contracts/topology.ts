/**
 * The one list the system grows from: every service, its ports and its role. Ports, certificates,
 * allow-lists, `poc up`, the console and the deployment manifests all follow from it.
 * Who may call whom is declared per route in the contracts and checked against this list.
 */
const declared = [
  { name: 'gateway', port: 8443, adminPort: 9100, role: 'edge: TLS, DPoP auth, scopes, rate limits, request tagging, routing, audit', exposure: 'public', calls: ['orders', 'integration', 'store'] },
  { name: 'orders', port: 8101, adminPort: 9101, role: 'core business logic: pricing, stock rules, order state machine', exposure: 'internal', calls: ['store'] },
  { name: 'store', port: 8102, adminPort: 9102, role: 'persistence: owns the database, transactions, idempotency, outbox, event feed', exposure: 'internal', calls: [] },
  { name: 'integration', port: 8103, adminPort: 9103, role: 'consumes order events, calls the partner with signed requests, takes partner callbacks', exposure: 'internal', calls: ['store', 'orders', 'partner'] },
  { name: 'partner', port: 8104, adminPort: 9104, role: 'simulated external fulfilment provider with configurable latency and failures', exposure: 'external', calls: ['gateway'] },
] as const satisfies readonly ServiceEntry[];

export interface ServiceEntry {
  readonly name: string;
  readonly port: number;
  readonly adminPort: number;
  readonly role: string;
  /** public: TLS to any client; internal: mutual TLS with service identities; external: a third party we only reach over TLS. */
  readonly exposure: 'public' | 'internal' | 'external';
  /** Services this one calls, in dependency order: `poc up` starts callees before callers. */
  readonly calls: readonly string[];
  /** The workspace whose `dist/main.js` runs it, when that is not `services/<name>` (told its name in POC_SERVICE). */
  readonly program?: string;
  /**
   * `small`: stateless, keeps little in memory and runs many to a machine; its process is started
   * to favour memory over peak throughput (the supervisor's `nodeFlagsOf` says how).
   */
  readonly footprint?: 'small';
}

/** The services written in this repository, each with its own folder under services/. */
export type DeclaredServiceName = (typeof declared)[number]['name'];
/** Generated pass-through services of a synthetic topology (`poc up --topology synthetic:N`). */
export type SyntheticServiceName = `synth-${number}`;
export type ServiceName = DeclaredServiceName | SyntheticServiceName;
export type TopologyEntry = ServiceEntry & { readonly name: ServiceName };

/**
 * The topology: the declared services, extended at run time by a synthetic topology when one is
 * asked for (POC_TOPOLOGY, or `extendTopology` before anything reads the list). Every process of a
 * system derives the same list from the same setting.
 */
export const topology: TopologyEntry[] = [...declared];

export const serviceNames: ServiceName[] = topology.map((s) => s.name);

export function serviceEntry(name: ServiceName): TopologyEntry {
  const entry = topology.find((s) => s.name === name);
  if (!entry) throw new Error(`unknown service "${name}"; the topology lists ${serviceNames.join(', ')}`);
  return entry;
}

/** A service's setting in the environment: `POC_<NAME>_PORT`, a hyphen in the name read as an underscore. */
export const serviceEnvName = (service: string, setting: 'PORT' | 'ADMIN_PORT' | 'URL'): string => `POC_${service.toUpperCase().replaceAll('-', '_')}_${setting}`;

export function isServiceName(value: string): value is ServiceName {
  return (serviceNames as readonly string[]).includes(value);
}

/**
 * Workloads that hold a certificate of the local CA and call services, but serve no contract of
 * their own. They stay out of `topology`, so that `poc up`, the harness and the manifests, which
 * start, measure and deploy request-serving services, do not mistake them for one.
 */
export const clientWorkloads = [
  { name: 'console', role: 'live dashboard and OTLP trace receiver; lists and replays dead letters' },
] as const satisfies readonly ClientWorkloadEntry[];

export interface ClientWorkloadEntry {
  readonly name: string;
  readonly role: string;
}

export type ClientWorkloadName = (typeof clientWorkloads)[number]['name'];

/** Any name that can hold an identity of our trust domain: a service or a client workload. */
export type WorkloadName = ServiceName | ClientWorkloadName;

export const workloadNames: WorkloadName[] = [...serviceNames, ...clientWorkloads.map((w) => w.name)];

export function isClientWorkloadName(value: string): value is ClientWorkloadName {
  return clientWorkloads.some((w) => w.name === value);
}

export function isWorkloadName(value: string): value is WorkloadName {
  return isServiceName(value) || isClientWorkloadName(value);
}

/** SPIFFE trust domain of every internal identity. */
export const trustDomain = 'msa-poc.local';
export const spiffeId = (name: WorkloadName): string => `spiffe://${trustDomain}/${name}`;

/** Start order: every service after the services it calls (the partner, external, calls back later). */
export function startOrder(): ServiceName[] {
  const order: ServiceName[] = [];
  const visit = (name: ServiceName, path: ServiceName[]): void => {
    if (order.includes(name)) return;
    if (path.includes(name)) return; // a call-back cycle (partner → gateway) does not order start-up
    for (const callee of serviceEntry(name).calls) visit(callee as ServiceName, [...path, name]);
    order.push(name);
  };
  for (const name of serviceNames) visit(name, []);
  return order;
}

/** The service a synthetic topology's request enters first, from the gateway. */
export const syntheticEntry: SyntheticServiceName = 'synth-1';

export interface SyntheticShape {
  /** Processes in all: the declared services and the synthetic ones together. */
  readonly processes: number;
  /** Synthetic levels below the gateway. */
  readonly depth: number;
  /** Callees of each synthetic service above the last level. */
  readonly fanout: number;
}

/** `synthetic:N[,depth,fanout]`; the error names what would be accepted. */
export function parseSyntheticTopology(spec: string): SyntheticShape {
  const match = /^synthetic:(\d+)(?:,(\d+)(?:,(\d+))?)?$/.exec(spec);
  const [processes, depth, fanout] = match ? [Number(match[1]), Number(match[2] ?? 5), Number(match[3] ?? 2)] : [NaN, NaN, NaN];
  const synthetic = processes - declared.length;
  if (!match || !(synthetic >= 1 && processes <= 200 && depth >= 1 && depth <= 16 && fanout >= 1 && fanout <= 16)) {
    throw new RangeError(`"${spec}" is not a synthetic topology: write synthetic:N[,depth,fanout] with N from ${declared.length + 1} to 200 processes in all (${declared.length} are the reference system), depth 1-16 (default 5) and fan-out 1-16 (default 2), e.g. synthetic:30,5,2`);
  }
  let capacity = 0;
  for (let level = 0, width = 1; level < depth; level += 1, width *= fanout) capacity += width;
  if (capacity < synthetic) throw new RangeError(`${spec}: ${synthetic} synthetic services do not fit ${depth} levels of fan-out ${fanout} (at most ${capacity}); raise the depth or the fan-out`);
  return { processes, depth, fanout };
}

/**
 * The synthetic services of a shape, level by level: synth-1 on the first, each service calling up to
 * `fanout` services of the next, ports after the declared ones.
 */
export function syntheticServices(shape: SyntheticShape): TopologyEntry[] {
  const count = shape.processes - declared.length;
  const port = Math.max(...declared.filter((s) => s.exposure !== 'public').map((s) => s.port));
  const adminPort = Math.max(...declared.map((s) => s.adminPort));
  const calls = new Map<number, string[]>();
  let level: number[] = [1];
  let next = 2;
  for (let depth = 1; depth < shape.depth && next <= count; depth += 1) {
    const below: number[] = [];
    for (const parent of level) {
      for (let i = 0; i < shape.fanout && next <= count; i += 1) {
        calls.set(parent, [...(calls.get(parent) ?? []), `synth-${next}`]);
        below.push(next++);
      }
    }
    level = below;
  }
  return Array.from({ length: count }, (_, i) => ({
    name: `synth-${i + 1}` as SyntheticServiceName,
    port: port + i + 1,
    adminPort: adminPort + i + 1,
    role: 'synthetic pass-through: validates, calls the next level, answers with the services it crossed',
    exposure: 'internal' as const,
    calls: calls.get(i + 1) ?? [],
    program: 'services/synthetic',
    footprint: 'small' as const,
  }));
}

let extendedBy: string | undefined;

/** Adds a synthetic topology's services to the list, once, before anything reads it. */
export function extendTopology(spec: string): void {
  if (extendedBy === spec) return;
  if (extendedBy !== undefined) throw new Error(`the topology is already extended by ${extendedBy}; one process runs one topology`);
  const added = syntheticServices(parseSyntheticTopology(spec));
  extendedBy = spec;
  // The gateway is the edge of the synthetic graph: a public route crosses it.
  const gateway = topology.find((s) => s.name === 'gateway')!;
  topology[topology.indexOf(gateway)] = { ...gateway, calls: [...gateway.calls, syntheticEntry] };
  topology.push(...added);
  serviceNames.push(...added.map((s) => s.name));
  workloadNames.push(...added.map((s) => s.name));
}

/** The synthetic topology this process runs, if any. */
export const syntheticTopology = (): string | undefined => extendedBy;

const fromEnvironment = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.POC_TOPOLOGY;
if (fromEnvironment) extendTopology(fromEnvironment);
