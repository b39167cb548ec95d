/**
 * `deploy/compose.yaml`: the production profile on one machine, generated from the workloads.
 * Every service runs from its image, read-only, as an unprivileged user, with its certificate and
 * the signing keys it reads mounted one file at a time; PostgreSQL, NATS JetStream and Redis run
 * beside them, and the console receives their traces.
 *
 * Paths are relative to the file, as compose resolves them: the build context is the repository
 * and the identities are the ones `npx poc deploy identities` writes to its .poc folder.
 */
import { serviceEnvName, startOrder, topology } from '@msa-poc/contracts';
import { consoleWorkload, imageName, serviceWorkloads, type BackingService, type Workload } from './workloads.js';

type Yaml = Record<string, unknown>;

/** Pinned images of the servers the production profile needs. */
export const backingImages: Readonly<Record<BackingService, string>> = {
  postgres: 'postgres:17-bookworm',
  nats: 'nats:2.11-alpine',
  redis: 'redis:7.4-bookworm',
};

const database = { user: 'msa_poc', name: 'msa_poc' };
/** Required at `compose up`, never written down: compose stops with this message when it is unset. */
const databasePassword = '${POC_DB_PASSWORD:?set POC_DB_PASSWORD to the PostgreSQL password to create and use}';
const publicUrl = '${POC_PUBLIC_URL:-https://localhost:8443}';
const image = (workload: Workload) => imageName('${POC_IMAGE_REGISTRY:-localhost/msa-poc}', workload, '${POC_IMAGE_TAG:-dev}');

const healthcheck = (test: string[]) => ({ test: ['CMD', ...test], interval: '5s', timeout: '3s', retries: 12, start_period: '20s' });

const backingServices: Readonly<Record<BackingService, Yaml>> = {
  postgres: {
    image: backingImages.postgres,
    environment: { POSTGRES_USER: database.user, POSTGRES_DB: database.name, POSTGRES_PASSWORD: databasePassword },
    volumes: ['postgres-data:/var/lib/postgresql/data'],
    healthcheck: healthcheck(['pg_isready', '--username', database.user, '--dbname', database.name]),
    restart: 'unless-stopped',
  },
  nats: {
    image: backingImages.nats,
    // JetStream on, its streams on a volume; the monitoring port answers the health check.
    command: ['nats-server', '--jetstream', '--store_dir', '/data', '--http_port', '8222'],
    volumes: ['nats-data:/data'],
    healthcheck: healthcheck(['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8222/healthz?js-enabled-only=true']),
    restart: 'unless-stopped',
  },
  redis: {
    image: backingImages.redis,
    // Replay guards, nonces and rate limits are short-lived: nothing is worth persisting.
    command: ['redis-server', '--save', '', '--appendonly', 'no'],
    healthcheck: healthcheck(['redis-cli', 'ping']),
    restart: 'unless-stopped',
  },
};

/** The settings every workload reads, as packages/platform/config.ts names them. */
function sharedEnvironment(): Yaml {
  const env: Yaml = {
    POC_PROFILE: 'production',
    POC_DATABASE_URL: `postgres://${database.user}@postgres:5432/${database.name}`,
    POC_NATS_URL: 'nats://nats:4222',
    POC_REDIS_URL: 'redis://redis:6379',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://${consoleWorkload.name}:${consoleWorkload.ports[1]!.port}`,
  };
  for (const service of topology) {
    // The gateway's URL is its public origin: the base of every DPoP `htu` and what the partner signs.
    env[serviceEnvName(service.name, 'URL')] = service.exposure === 'public' ? publicUrl : `https://${service.name}:${service.port}`;
  }
  return env;
}

/** Each file mounted is a compose secret: a missing one stops `compose up` with its path. */
function secretsOf(workload: Workload, repository: string): { source: string; target: string; file: string }[] {
  const pki = workload.identity ? ['ca.crt', `${workload.name}.crt`, `${workload.name}.key`].map((file) => ({ source: `pki-${file}`, target: `/poc/pki/${file}`, file: `${repository}/.poc/pki/${file}` })) : [];
  const keys = workload.keyFiles.map((file) => ({ source: `keys-${file}`, target: `/poc/keys/${file}`, file: `${repository}/.poc/keys/${file}` }));
  return [...pki, ...keys];
}

/** Callees started before this one: `depends_on` cannot hold the partner's call back to the gateway. */
function dependenciesOf(workload: Workload): Yaml {
  const order: string[] = startOrder();
  const position = order.indexOf(workload.name);
  const callees = workload.calls.filter((callee) => position < 0 || order.indexOf(callee) < position);
  const healthy = { condition: 'service_healthy' };
  return Object.fromEntries([...workload.backing, ...callees].map((name) => [name, healthy]));
}

function workloadService(workload: Workload, repository: string): Yaml {
  const dependencies = dependenciesOf(workload);
  const mounted = secretsOf(workload, repository).map(({ source, target }) => ({ source, target }));
  const published = workload.exposure === 'public' ? workload.ports.map((p) => `${p.port}:${p.port}`) : [];
  // Admin ports stay off the host except the gateway's, where `poc client add` registers API clients.
  const adminPublished = workload.exposure === 'public' && workload.adminPort ? [`127.0.0.1:${workload.adminPort}:${workload.adminPort}`] : [];
  const operatorPublished = workload.exposure === 'operator' ? [`127.0.0.1:${workload.ports[0]!.port}:${workload.ports[0]!.port}`] : [];
  const ports = [...published, ...adminPublished, ...operatorPublished];
  return {
    image: image(workload),
    build: { context: repository, dockerfile: 'Containerfile', args: { SERVICE: workload.name, WORKSPACE: workload.workspace } },
    environment: {
      ...sharedEnvironment(),
      ...(workload.backing.includes('postgres') ? { PGPASSWORD: databasePassword } : {}),
    },
    // The identities on the host are readable by their owner only: run as that owner (POC_UID=$(id -u)).
    user: '${POC_UID:-10001}:${POC_GID:-10001}',
    read_only: true,
    tmpfs: ['/tmp', '/data'],
    cap_drop: ['ALL'],
    security_opt: ['no-new-privileges:true'],
    ...(mounted.length > 0 ? { secrets: mounted } : {}),
    ...(ports.length > 0 ? { ports } : {}),
    expose: workload.ports.map((p) => String(p.port)),
    healthcheck: workload.adminPort
      ? healthcheck(['node', '/app/deploy/images/healthcheck.mjs', '/readyz'])
      : healthcheck(['node', '-e', `require('node:net').connect(${workload.ports[0]!.port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`]),
    ...(Object.keys(dependencies).length > 0 ? { depends_on: dependencies } : {}),
    stop_grace_period: '15s',
    restart: 'unless-stopped',
  };
}

/** The compose file, for a file placed `repository` away from the repository root ('..' in deploy/). */
export function composeFile(repository = '..'): Yaml {
  const workloads = [...serviceWorkloads(), consoleWorkload];
  const services: Yaml = { ...backingServices };
  for (const workload of workloads) services[workload.name] = workloadService(workload, repository);
  const secrets: Yaml = {};
  for (const { source, file } of workloads.flatMap((w) => secretsOf(w, repository)).sort((a, b) => a.source.localeCompare(b.source))) secrets[source] = { file };
  return {
    name: 'msa-poc',
    services,
    volumes: { 'postgres-data': {}, 'nats-data': {} },
    secrets,
  };
}
