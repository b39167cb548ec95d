/**
 * What a deployment needs to know about each workload, derived from the topology and the
 * contracts: its image, ports, who may call it, what it calls, the secrets it mounts and the
 * servers it needs. Compose, Kubernetes and the image build all read this one list, so a service
 * added to the topology is deployed without an edit here.
 */
import { contracts, spiffeId, topology, trustDomain, type ServiceEntry } from '@msa-poc/contracts';

/** The servers outside the topology that the production profile needs. */
export type BackingService = 'postgres' | 'nats' | 'redis';

export interface Port {
  readonly name: string;
  readonly port: number;
}

export interface Workload {
  readonly name: string;
  /** The folder of its entry point, `<workspace>/dist/main.js`; the image's WORKSPACE build argument. */
  readonly workspace: string;
  readonly role: string;
  readonly exposure: ServiceEntry['exposure'] | 'operator';
  /** The ports its clients use; the first is the main one. */
  readonly ports: readonly Port[];
  /** Liveness, readiness and metrics; absent for a workload that has none. */
  readonly adminPort: number | undefined;
  /** Services it calls (start after them). */
  readonly calls: readonly string[];
  /** Who may open a connection to its ports: the union of its contract's route callers, or anyone for a public route. */
  readonly callers: readonly string[] | 'anyone';
  /** Files of the signing-key folder it reads (POC_HOME/keys): its own private keys and its peers' public ones. */
  readonly keyFiles: readonly string[];
  readonly backing: readonly BackingService[];
  /** Its SPIFFE id, when it holds a certificate of the service CA (POC_HOME/pki). */
  readonly identity: string | undefined;
}

/**
 * Key files each service reads, as its setup loads them (`loadSigningKey`, `loadVerifyKey`,
 * `requestSigner`, `loadOrCreateSigningKey`); a test reads the services' sources to keep this true.
 */
export const serviceKeyFiles: Readonly<Record<string, readonly string[]>> = {
  gateway: ['gateway.sign.key', 'gateway-token-signing.key', 'partner.sign.pub'],
  orders: ['gateway.sign.pub'],
  integration: ['integration.sign.key'],
  partner: ['partner.sign.key', 'integration.sign.pub'],
};

/** Servers each service connects to in the production profile; a test reads the services' sources to keep this true. */
export const serviceBacking: Readonly<Record<string, readonly BackingService[]>> = {
  gateway: ['redis'],
  store: ['postgres', 'nats'],
  integration: ['nats'],
};

type RouteCallers = Readonly<Record<string, { readonly callers: readonly string[] | 'public' }>>;
const contractRoutes = contracts as Readonly<Record<string, { readonly routes: RouteCallers }>>;

/** Every caller a service's contract admits, sorted; `anyone` when a route is public. */
export function callersOf(service: string): readonly string[] | 'anyone' {
  const contract = contractRoutes[service];
  if (!contract) throw new Error(`the topology lists "${service}" but packages/contracts has no contract for it; add one to \`contracts\` in packages/contracts/index.ts`);
  const callers = new Set<string>();
  for (const route of Object.values(contract.routes)) {
    if (route.callers === 'public') return 'anyone';
    for (const caller of route.callers) callers.add(caller);
  }
  return [...callers].sort();
}

/** The services whose contracts name `caller` on some route: what a workload outside the topology calls. */
export const servicesAdmitting = (caller: string): string[] =>
  topology.map((s) => s.name).filter((name) => Object.values(contractRoutes[name]?.routes ?? {}).some((r) => r.callers !== 'public' && r.callers.includes(caller)));

const serviceWorkload = (service: (typeof topology)[number]): Workload => ({
  name: service.name,
  workspace: `services/${service.name}`,
  role: service.role,
  exposure: service.exposure,
  ports: [{ name: 'https', port: service.port }],
  adminPort: service.adminPort,
  calls: service.calls,
  callers: callersOf(service.name),
  keyFiles: serviceKeyFiles[service.name] ?? [],
  backing: serviceBacking[service.name] ?? [],
  identity: spiffeId(service.name),
});

/**
 * The console: the operator's dashboard and the services' OTLP/HTTP trace receiver. It serves no
 * contract, so it is not in the topology; the services send it spans and the operator opens it.
 */
export const consoleWorkload: Workload = {
  name: 'console',
  workspace: 'console',
  role: 'live dashboard and OTLP/HTTP trace receiver',
  exposure: 'operator',
  ports: [{ name: 'http', port: 8090 }, { name: 'otlp-http', port: 4318 }],
  adminPort: undefined,
  calls: servicesAdmitting('console'),
  callers: 'anyone',
  keyFiles: [],
  backing: [],
  // A certificate only when some contract lets the console call it (over mutual TLS).
  identity: servicesAdmitting('console').length > 0 ? `spiffe://${trustDomain}/console` : undefined,
};

/** The request-serving services, in topology order. */
export const serviceWorkloads = (): Workload[] => topology.map(serviceWorkload);

/** Everything an image is built for: the services, then the console. */
export const allWorkloads = (): Workload[] => [...serviceWorkloads(), consoleWorkload];


/** The image a workload runs, `<registry>/<name>:<tag>`. */
export const imageName = (registry: string, workload: Pick<Workload, 'name'>, tag: string): string => `${registry}/${workload.name}:${tag}`;
