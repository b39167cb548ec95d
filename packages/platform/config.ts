/**
 * Configuration comes from the environment, is validated once at start, and every mistake is
 * reported with the variable's name, its value and what would be accepted.
 */
import { resolve } from 'node:path';
import { serviceNames, topology, type ServiceName } from '@msa-poc/contracts';

export type Profile = 'embedded' | 'production';

export interface Endpoint {
  readonly port: number;
  readonly adminPort: number;
  /**
   * Where callers reach the service: `https://127.0.0.1:<port>` unless POC_<NAME>_URL says otherwise;
   * `http:` for an internal service when the mtls bench switch is off.
   */
  readonly url: string;
}

export interface PlatformConfig {
  readonly profile: Profile;
  /** Everything local and secret-ish: `.poc/` (PKI, signing keys, embedded database). Never committed. */
  readonly home: string;
  readonly pkiDir: string;
  readonly keysDir: string;
  readonly dataDir: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  readonly endpoints: Readonly<Record<ServiceName, Endpoint>>;
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  readonly redisUrl: string | undefined;
  /** Host the admin port binds to: loopback unless a container needs it reachable for probes. */
  readonly adminHost: string;
  /** Host the service port binds to. */
  readonly host: string;
  readonly tracing: TracingSettings;
  /**
   * Features switched off for `npm run bench` (POC_BENCH_DISABLE), to measure what each costs. Empty
   * unless asked for, and refused in the production profile.
   */
  readonly benchDisabled: ReadonlySet<BenchFeature>;
}

/** The features a benchmark may switch off one at a time, to attribute their cost. */
export const benchFeatures = ['mtls', 'auth', 'validation', 'tracing', 'metrics', 'outbox'] as const;
export type BenchFeature = (typeof benchFeatures)[number];

/**
 * How spans leave a service, from the standard OpenTelemetry variables (OTEL_*), so that any OTLP
 * backend is one variable away; only what the platform implements is accepted.
 */
export interface TracingSettings {
  /** False with OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none or POC_BENCH_DISABLE=tracing: trace ids still flow, no span is recorded. */
  readonly exportSpans: boolean;
  /** Full URL spans are POSTed to (the console's receiver unless configured otherwise). */
  readonly endpoint: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  /** Share of new traces recorded; a trace begun elsewhere keeps its caller's decision. */
  readonly sampleRatio: number;
  /** The batch span processor: how long spans wait, how many may wait, how many go per request. */
  readonly scheduledDelayMs: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportTimeoutMs: number;
}

export const defaultTracesEndpoint = 'http://127.0.0.1:4318/v1/traces';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

const envName = (service: ServiceName, what: 'PORT' | 'ADMIN_PORT' | 'URL') => `POC_${service.toUpperCase()}_${what}`;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ConfigError(`${name}="${raw}" is not a port number (1-65535); unset it to use ${fallback}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name}="${raw}" is not one of ${allowed.join(', ')}; unset it to use ${fallback}`);
  return raw as T;
}

function url(env: Env, name: string, protocols: readonly string[], required: boolean, hint: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (required) throw new ConfigError(`${name} is not set; ${hint}`);
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL; ${hint}`);
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(`${name} must use ${protocols.join(' or ')}, not ${parsed.protocol}; ${hint}`);
  return raw;
}

function benchSwitches(env: Env, profile: Profile): ReadonlySet<BenchFeature> {
  const raw = env.POC_BENCH_DISABLE ?? '';
  const names = raw.split(',').map((name) => name.trim()).filter(Boolean);
  if (names.length === 0) return new Set();
  if (profile === 'production') {
    throw new ConfigError(`POC_BENCH_DISABLE="${raw}" switches production features off; these switches exist only for \`npm run bench\` on the embedded profile. Unset it.`);
  }
  const unknown = names.filter((name) => !(benchFeatures as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new ConfigError(`POC_BENCH_DISABLE="${raw}" names ${unknown.map((name) => `"${name}"`).join(', ')}, which is not a feature it can switch off; use a comma-separated subset of ${benchFeatures.join(', ')}, or unset it to keep every feature on`);
  }
  return new Set(names as BenchFeature[]);
}

export function loadConfig(env: Env = process.env): PlatformConfig {
  const profile = oneOf<Profile>(env, 'POC_PROFILE', ['embedded', 'production'], 'embedded');
  const benchDisabled = benchSwitches(env, profile);
  const home = resolve(env.POC_HOME || '.poc');
  const endpoints = {} as Record<ServiceName, Endpoint>;
  for (const entry of topology) {
    const p = port(env, envName(entry.name, 'PORT'), entry.port);
    const adminPort = port(env, envName(entry.name, 'ADMIN_PORT'), entry.adminPort);
    // Internal hops speak plain HTTP only when the mtls bench switch is off; the edge and the partner keep TLS.
    const plain = entry.exposure === 'internal' && benchDisabled.has('mtls');
    const protocols = plain ? ['https:', 'http:'] : ['https:'];
    const serviceUrl = url(env, envName(entry.name, 'URL'), protocols, false, `set it to where ${entry.name} listens, e.g. https://${entry.name}:${entry.port}`) ?? `https://127.0.0.1:${p}`;
    endpoints[entry.name] = { port: p, adminPort, url: plain ? serviceUrl.replace(/^https:/, 'http:') : serviceUrl };
  }
  const production = profile === 'production';
  const ports = new Map<number, string>();
  for (const name of serviceNames) {
    for (const [kind, value] of [['port', endpoints[name].port], ['admin port', endpoints[name].adminPort]] as const) {
      const clash = ports.get(value);
      if (clash) throw new ConfigError(`port ${value} is configured twice: ${clash} and ${name} ${kind}; give each its own`);
      ports.set(value, `${name} ${kind}`);
    }
  }
  return {
    profile,
    home,
    pkiDir: resolve(home, 'pki'),
    keysDir: resolve(home, 'keys'),
    dataDir: resolve(env.POC_DATA_DIR || resolve(home, 'data')),
    logLevel: oneOf(env, 'POC_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    endpoints,
    databaseUrl: url(env, 'POC_DATABASE_URL', ['postgres:', 'postgresql:'], production, 'the production profile needs PostgreSQL, e.g. POC_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test'),
    natsUrl: url(env, 'POC_NATS_URL', ['nats:', 'tls:'], production, 'the production profile needs NATS with JetStream, e.g. POC_NATS_URL=nats://127.0.0.1:4222'),
    redisUrl: url(env, 'POC_REDIS_URL', ['redis:', 'rediss:'], false, 'e.g. POC_REDIS_URL=redis://127.0.0.1:6379'),
    adminHost: env.POC_ADMIN_HOST || '127.0.0.1',
    host: env.POC_HOST || '127.0.0.1',
    tracing: loadTracingSettings(env, benchDisabled.has('tracing')),
    benchDisabled,
  };
}

const samplers = ['parentbased_traceidratio', 'parentbased_always_on', 'parentbased_always_off'] as const;

function loadTracingSettings(env: Env, benchDisabled: boolean): TracingSettings {
  const disabled = oneOf(env, 'OTEL_SDK_DISABLED', ['true', 'false'], 'false') === 'true';
  const exporter = oneOf(env, 'OTEL_TRACES_EXPORTER', ['otlp', 'none'], 'otlp');
  const protocolVariable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = oneOf(env, protocolVariable, ['http/protobuf', 'http/json'], 'http/protobuf');
  const hint = 'e.g. http://127.0.0.1:4318 for OTEL_EXPORTER_OTLP_ENDPOINT, or the full …/v1/traces URL for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  const tracesEndpoint = url(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:'], false, hint);
  const baseEndpoint = url(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:'], false, hint);
  const endpoint = tracesEndpoint ?? (baseEndpoint ? `${baseEndpoint.replace(/\/+$/, '')}/v1/traces` : defaultTracesEndpoint);
  const sampler = oneOf(env, 'OTEL_TRACES_SAMPLER', samplers, 'parentbased_traceidratio');
  const sampleRatio = sampler === 'parentbased_always_on' ? 1 : sampler === 'parentbased_always_off' ? 0 : ratio(env, 'OTEL_TRACES_SAMPLER_ARG', 1);
  const maxQueueSize = intSetting(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000);
  const maxExportBatchSize = intSetting(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', Math.min(512, maxQueueSize), 1, 1_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE (${maxExportBatchSize}) is larger than OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize}); a batch is taken from the queue, so make it no larger`);
  }
  return {
    exportSpans: !disabled && exporter === 'otlp' && !benchDisabled,
    endpoint,
    protocol,
    sampleRatio,
    // A second rather than the SDK's five: the console shows traces live.
    scheduledDelayMs: intSetting(env, 'OTEL_BSP_SCHEDULE_DELAY', 1_000, 1, 600_000),
    maxQueueSize,
    maxExportBatchSize,
    exportTimeoutMs: intSetting(env, 'OTEL_BSP_EXPORT_TIMEOUT', 10_000, 1, 600_000),
  };
}

function ratio(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!(raw.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1)) {
    throw new ConfigError(`${name}="${raw}" is not a sampling ratio from 0 to 1 (0.1 records one new trace in ten); unset it to record every trace`);
  }
  return value;
}

/** The environment that makes a child process see the same configuration. */
export function configEnv(config: PlatformConfig): Record<string, string> {
  const env: Record<string, string> = { POC_PROFILE: config.profile, POC_HOME: config.home, POC_DATA_DIR: config.dataDir, POC_LOG_LEVEL: config.logLevel };
  for (const name of serviceNames) {
    env[envName(name, 'PORT')] = String(config.endpoints[name].port);
    env[envName(name, 'ADMIN_PORT')] = String(config.endpoints[name].adminPort);
    env[envName(name, 'URL')] = config.endpoints[name].url;
  }
  if (config.databaseUrl) env.POC_DATABASE_URL = config.databaseUrl;
  if (config.natsUrl) env.POC_NATS_URL = config.natsUrl;
  if (config.redisUrl) env.POC_REDIS_URL = config.redisUrl;
  if (config.benchDisabled.size > 0) env.POC_BENCH_DISABLE = [...config.benchDisabled].join(',');
  const { tracing } = config;
  Object.assign(env, {
    OTEL_TRACES_EXPORTER: tracing.exportSpans ? 'otlp' : 'none',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracing.endpoint,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: tracing.protocol,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(tracing.sampleRatio),
    OTEL_BSP_SCHEDULE_DELAY: String(tracing.scheduledDelayMs),
    OTEL_BSP_MAX_QUEUE_SIZE: String(tracing.maxQueueSize),
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: String(tracing.maxExportBatchSize),
    OTEL_BSP_EXPORT_TIMEOUT: String(tracing.exportTimeoutMs),
  });
  return env;
}

/** A port from `name`, or `fallback` when unset. */
export function portSetting(env: Env, name: string, fallback: number): number {
  return port(env, name, fallback);
}

/** What to tell a person when `who` cannot listen on `port`: who holds it, and which variable moves it. */
export function listenError(error: unknown, who: string, port: number, variable: string): Error {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new Error(`${who} cannot listen on port ${port}: the port is already in use. Stop whatever holds it (\`ss -ltnp 'sport = :${port}'\` shows it) or set ${variable}.`, { cause: error });
  }
  return error as Error;
}

/** An integer setting of one service, with bounds, from its own variable. */
export function intSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name}="${raw}" must be a whole number from ${min} to ${max}; unset it to use ${fallback}`);
  return value;
}
