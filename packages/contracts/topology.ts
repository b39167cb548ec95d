/**
 * The one list the system grows from: every service, its ports and its role. Ports, certificates,
 * allow-lists, `poc up`, the console and the deployment manifests all follow from it.
 * Who may call whom is declared per route in the contracts and checked against this list.
 */
export const topology = [
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
}

export type ServiceName = (typeof topology)[number]['name'];

export const serviceNames: readonly ServiceName[] = topology.map((s) => s.name);

export function serviceEntry(name: ServiceName): (typeof topology)[number] {
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

export const workloadNames: readonly WorkloadName[] = [...serviceNames, ...clientWorkloads.map((w) => w.name)];

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
