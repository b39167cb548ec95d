/** `poc`: the user's whole interface to the system. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serviceNames, topology } from '@msa-poc/contracts';
import { ConfigError, loadConfig, type PlatformConfig } from '@msa-poc/platform/config';
import { ApiClient, loadOrCreateClientKey } from '@msa-poc/harness/api-client';
import { auditCommand } from './audit.js';
import { listClients, readJwkFile, registerClient, removeClient } from './clients.js';
import { print, UsageError } from './command.js';
import { formatLine } from './logs.js';
import { prepareDeploymentIdentities, renderDeployment } from './deploy.js';
import { isClientId } from '@msa-poc/gateway/clients';
import { parseTargetOrigin, runProve, type TargetOptions } from './prove.js';
import { loadConsoleSettings } from '@msa-poc/console/config';
import { startLinkedConsole } from './console-link.js';
import { startSystem, type RunningSystem } from './system.js';
import { PlacementError, placementOf } from './placement.js';
import { runComparison } from './compare.js';
import { support, supportUsage } from './support.js';

const usage = `usage: poc <command> [options]

commands:
  prove [--quick] [--scenario FILE] [--out DIR] [--seed N] [--p99 MS] [--error-budget F] [--topology T]
                                   the proving run: load, capacity knee, faults, integrity audit, report;
                                   exit code 1 when a check fails; --topology as for up (faults report
                                   which services shared the faulted process)
  prove --compare-topologies split,colocated[,FILE...] [--quick] [...]
                                   the same proving run on each topology in turn, then knee, latency,
                                   CPU and memory, network calls and fault blast radius side by side,
                                   and which services to run together or apart, with the figures
  prove --target URL [--client ID] [--ca FILE] [...]
                                   prove a system already running (its gateway's URL): load, knee and
                                   integrity through the API as a registered client (default prove-load);
                                   faults that need its processes are skipped
  up [--topology split|colocated|FILE]
                                   start every service and the console (http://127.0.0.1:8090) and print
                                   their URLs; Ctrl-C stops them gracefully. split (default): a process
                                   per service; colocated: all but the partner in one process; FILE:
                                   JSON {"processes": {"NAME": ["service", ...], ...}}
  start                            the main job (npm start): poc prove on the embedded profile
  token [--curl METHOD PATH]       a DPoP-bound access token for the local developer client, or a ready curl line
  client add ID [--jwk FILE] --scope "orders:read orders:write" [--customer ID] [--role support|support-lead]
                                   register an API client by its public key (no secret exists; without
                                   --jwk, the key kept for ID under the keys directory, created if new);
                                   with --customer it acts for that customer only
  client list                      the registered clients
  client remove ID                 remove a client
${supportUsage}  audit tail [--limit N] [--follow]
                                   the audit trail: authentication decisions and state changes
  audit verify [--anchor POSITION:HASH]
                                   check every link of the audit trail's hash chain and print its head;
                                   exit code 1 at the first altered, missing or reordered record
  deploy render [--target compose|k8s|monitoring|all] [--out DIR]
                                   write the deployment files generated from the topology
                                   (default: all of them, into deploy/)
  deploy identities                create the CA, the certificates and every key file the
                                   container deployments mount (under POC_HOME, default .poc)

options:
  --profile embedded|production    database and event transport (default: embedded)
  --json                           machine-readable output
  --quiet                          do not stream the services' logs (up)
  -h, --help                       this text
`;

/** The developer's own API client, created by `poc up`: a key on disk under .poc/keys, never a secret. */
const developerClient = { id: 'developer', scopes: ['orders:read', 'orders:write'] };

/** The environment for a profile: the production servers default to the ones on this machine. */
function envFor(profile: string | undefined): Record<string, string | undefined> {
  if (profile && profile !== 'embedded' && profile !== 'production') throw new UsageError(`--profile must be embedded or production, not "${profile}"`);
  const env: Record<string, string | undefined> = { ...process.env, ...(profile ? { POC_PROFILE: profile } : {}) };
  if (env.POC_PROFILE === 'production') {
    env.POC_DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/test';
    env.POC_NATS_URL ||= 'nats://127.0.0.1:4222';
    env.POC_REDIS_URL ||= 'redis://127.0.0.1:6379';
  }
  return env;
}

const configFor = (profile: string | undefined): PlatformConfig => loadConfig(envFor(profile));


async function up(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false }, topology: { type: 'string' } }, strict: true });
  const env = envFor(values.profile);
  const placement = placementOf(values.topology);
  const consoleSettings = loadConsoleSettings(env); // a port mistake is reported before anything starts
  const colour = process.stdout.isTTY === true;
  const progress = (message: string) => {
    if (!values.json) process.stderr.write(`poc: ${message}\n`);
  };
  const showLog = (service: Parameters<typeof formatLine>[0], line: string) => {
    if (!values.quiet && !values.json) process.stdout.write(`${formatLine(service, line, colour)}\n`);
  };
  progress(`profile ${consoleSettings.platform.profile}; identities in ${consoleSettings.platform.pkiDir}`);
  const linked = await startLinkedConsole({ env, port: consoleSettings.port, otlpPort: consoleSettings.otlpPort, onLog: (line) => showLog('console', line) });
  const { config } = linked;
  progress(`console at ${linked.console.url}, receiving spans at ${linked.console.otlpUrl}/v1/traces`);
  let system: RunningSystem;
  try {
    system = await startSystem({ config, placement, onProgress: progress, onLog: showLog, extraEnv: linked.env });
  } catch (error) {
    await linked.console.stop();
    throw error;
  }
  const stopAll = async () => {
    await system.stop();
    await linked.console.stop();
  };
  try {
    const key = loadOrCreateClientKey(config.keysDir, developerClient.id);
    await registerClient(config, developerClient.id, [key.publicJwk], developerClient.scopes);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const urls = Object.fromEntries(serviceNames.map((name) => [name, { url: config.endpoints[name].url, admin: `http://${config.adminHost}:${config.endpoints[name].adminPort}` }]));
  const tracesGoElsewhere = !linked.receivesSpans;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ profile: config.profile, topology: placement, ca: join(config.pkiDir, 'ca.crt'), developerClient: developerClient.id, console: linked.console.url, otlp: linked.console.otlpUrl, services: urls })}\n`);
  } else {
    const lines = topology.map((s) => `  ${s.name.padEnd(12)} ${urls[s.name]?.url.padEnd(26)} admin ${urls[s.name]?.admin}${placement.name === 'split' ? '' : `  process ${system.services.get(s.name)?.process}`}`);
    process.stderr.write(
      `\nmsa-poc is up (${config.profile} profile, ${placement.name} topology)\n${lines.join('\n')}\n  ${'console'.padEnd(12)} ${linked.console.url}` +
        `${tracesGoElsewhere ? '  (shows no traces: OTEL_* settings send spans elsewhere or turn tracing off)' : ''}\n` +
        `  CA certificate: ${join(config.pkiDir, 'ca.crt')}\n` +
        `  Try it: eval "$(npx poc token --curl GET /v1/products)"\nCtrl-C stops everything.\n\n`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  progress('stopping (reverse order)');
  const started = Date.now();
  await stopAll();
  progress(`stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

const sampleOrder = { customerId: 'cust-42', items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' } };
const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

async function token(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, curl: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const config = configFor(values.profile);
  const client = new ApiClient(config.endpoints.gateway.url, developerClient.id, loadOrCreateClientKey(config.keysDir, developerClient.id), readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
  try {
    const accessToken = await client.accessToken();
    if (!values.curl) {
      print(values.json, { access_token: accessToken, token_type: 'DPoP' }, accessToken);
      return 0;
    }
    const [method, path] = positionals;
    if (!method || !path || !/^(GET|POST|PUT|DELETE)$/.test(method.toUpperCase()) || !path.startsWith('/')) throw new UsageError('--curl takes a method and a path, e.g. poc token --curl GET /v1/products');
    const verb = method.toUpperCase();
    const url = `${config.endpoints.gateway.url}${path}`;
    const parts = [
      'curl', '-sS', '--cacert', quote(join(config.pkiDir, 'ca.crt')), '-X', verb,
      '-H', quote(`Authorization: DPoP ${accessToken}`), '-H', quote(`DPoP: ${client.proof(verb, url, accessToken)}`),
    ];
    if (verb === 'POST' && path === '/v1/orders') {
      parts.push('-H', quote('Content-Type: application/json'), '-H', quote(`Idempotency-Key: ${crypto.randomUUID()}`), '-d', quote(JSON.stringify(sampleOrder)));
    }
    parts.push(quote(url));
    // One proof per request: the line works once, within a minute (that is what makes a stolen one useless).
    print(values.json, { curl: parts.join(' ') }, parts.join(' '));
    return 0;
  } finally {
    await client.close();
  }
}

async function client(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, jwk: { type: 'string' }, scope: { type: 'string' }, customer: { type: 'string' }, role: { type: 'string', multiple: true } }, allowPositionals: true, strict: true });
  const config = configFor(values.profile);
  switch (action) {
    case 'add': {
      const [id] = positionals;
      if (!id) throw new UsageError('client add takes an id, --jwk FILE and --scope "orders:read orders:write"');
      if (!values.jwk && !isClientId(id)) throw new UsageError(`client id must be 1-64 letters, digits, dots, dashes or underscores, not "${id}"`);
      const scopes = (values.scope ?? 'orders:read').split(/[\s,]+/).filter(Boolean);
      const roles = (values.role ?? []).flatMap((role) => role.split(/[\s,]+/)).filter(Boolean);
      const jwks = values.jwk ? readJwkFile(values.jwk) : [loadOrCreateClientKey(config.keysDir, id).publicJwk];
      const registered = await registerClient(config, id, jwks, scopes, values.customer, roles);
      print(values.json, registered, `registered ${id} with scopes ${scopes.join(' ')}${roles.length ? ` and roles ${roles.join(' ')}` : ''}${values.customer ? `, acting for customer ${values.customer} only` : ''}${values.jwk ? '' : ` (key ${join(config.keysDir, `${id}.client.jwk`)})`}`);
      return 0;
    }
    case 'list': {
      const items = await listClients(config);
      print(values.json, items, items.map((c) => `${String(c.id).padEnd(24)} ${(c.scopes as string[]).join(' ').padEnd(28)} ${(c.jwks as unknown[]).length} key(s)  since ${String(c.createdAt)}${c.customerId ? `  customer ${String(c.customerId)}` : ''}${(c.roles as string[] | undefined)?.length ? `  roles ${(c.roles as string[]).join(' ')}` : ''}`).join('\n') || 'no clients');
      return 0;
    }
    case 'remove': {
      const [id] = positionals;
      if (!id) throw new UsageError('client remove takes an id');
      const removed = await removeClient(config, id);
      print(values.json, { removed }, removed ? `removed ${id}` : `no client ${id}`);
      return removed ? 0 : 1;
    }
    default:
      throw new UsageError(`client takes add, list or remove${action ? `, not "${action}"` : ''}`);
  }
}

async function proveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      profile: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, out: { type: 'string' },
      seed: { type: 'string' }, p99: { type: 'string', default: '250' }, 'error-budget': { type: 'string', default: '0.01' },
      target: { type: 'string' }, client: { type: 'string' }, ca: { type: 'string' }, scenario: { type: 'string' }, topology: { type: 'string' }, 'compare-topologies': { type: 'string' },
    },
    strict: true,
  });
  if (!values.target && (values.client || values.ca)) throw new UsageError('--client and --ca go with --target: without it, poc prove starts the system and its own load client');
  const compared = values['compare-topologies']?.split(',').map((t) => t.trim()).filter(Boolean);
  if (compared && (values.target || values.topology)) throw new UsageError('--compare-topologies starts each topology itself: it goes without --target and --topology');
  if (compared && compared.length < 2) throw new UsageError('--compare-topologies takes two or more topologies, e.g. split,colocated');
  if (values.target && values.topology) throw new UsageError('--topology chooses how poc prove starts the system; with --target the system is already running as it is');
  if (values.target && values.profile) throw new UsageError('--profile chooses what poc prove starts; with --target the system is already running as it is');
  let target: TargetOptions | undefined;
  if (values.target) {
    try {
      target = { origin: parseTargetOrigin(values.target), clientId: values.client ?? 'prove-load', caFile: values.ca };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (!isClientId(target.clientId)) throw new UsageError(`--client must be 1-64 letters, digits, dots, dashes or underscores, not "${target.clientId}"`);
  }
  const number = (name: string, raw: string, min: number, max: number) => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, not "${raw}"`);
    return value;
  };
  const env = envFor(values.profile);
  loadConfig(env); // a configuration mistake is reported before anything starts
  const command = {
    env,
    quick: values.quick,
    outDir: values.out,
    scenarioFile: values.scenario,
    json: values.json,
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : number('seed', values.seed, 0, 2 ** 31),
    p99Ms: number('p99', values.p99, 1, 60_000),
    errorBudget: number('error-budget', values['error-budget'], 0, 1),
    ...(target ? { target } : {}),
    placement: placementOf(values.topology),
  };
  return compared ? runComparison(command, compared.map(placementOf)) : runProve(command);
}

async function deploy(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { target: { type: 'string' }, out: { type: 'string' }, profile: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
  switch (action) {
    case 'render': {
      let written: string[];
      try {
        written = renderDeployment(values.target, values.out);
      } catch (error) {
        if (error instanceof RangeError) throw new UsageError(error.message);
        throw error;
      }
      print(values.json, { written }, written.map((path) => `wrote ${path}`).join('\n'));
      return 0;
    }
    case 'identities': {
      const config = configFor(values.profile);
      const issued = await prepareDeploymentIdentities(config);
      print(values.json, { pki: config.pkiDir, keys: config.keysDir, issued }, `identities in ${config.pkiDir} and ${config.keysDir}${issued.length > 0 ? ` (issued ${issued.join(', ')})` : ' (all current)'}`);
      return 0;
    }
    default:
      throw new UsageError(`deploy takes render or identities${action ? `, not "${action}"` : ''}`);
  }
}

const commands: Record<string, (args: string[]) => Promise<number>> = {
  audit: (args) => auditCommand(args, configFor),
  up,
  prove: proveCommand,
  // The main job: the proving run on the embedded profile.
  start: (args) => proveCommand(args),
  token,
  client,
  support: (args) => support(args, configFor, (message) => new UsageError(message)),
  deploy,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage);
    return command ? 0 : 2;
  }
  const run = commands[command];
  if (!run) throw new UsageError(`unknown command "${command}"`);
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const code = (error as { code?: string }).code ?? '';
    if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`poc: ${(error as Error).message}\n\n${usage}`);
      process.exit(2);
    }
    if (error instanceof PlacementError) {
      process.stderr.write(`poc: topology error: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`poc: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`poc: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
