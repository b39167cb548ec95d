/** `poc`: the user's whole interface to the system. */
import { parseArgs } from 'node:util';
import { serviceNames, topology } from '@msa-poc/contracts';
import { ConfigError, loadConfig } from '@msa-poc/platform/config';
import { formatLine } from './logs.js';
import { startSystem } from './system.js';

const usage = `usage: poc <command> [options]

commands:
  up        start every service and print their URLs; Ctrl-C stops them gracefully
  start     the main job (npm start)

options:
  --profile embedded|production   database and event transport (default: embedded)
  --json                          machine-readable output
  --quiet                         do not stream the services' logs
  -h, --help                      this text
`;

class UsageError extends Error {}

async function up(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.profile && values.profile !== 'embedded' && values.profile !== 'production') throw new UsageError(`--profile must be embedded or production, not "${values.profile}"`);
  const env: Record<string, string | undefined> = { ...process.env, ...(values.profile ? { POC_PROFILE: values.profile } : {}) };
  if (env.POC_PROFILE === 'production') {
    env.POC_DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/test';
    env.POC_NATS_URL ||= 'nats://127.0.0.1:4222';
  }
  const config = loadConfig(env);
  const colour = process.stdout.isTTY === true;
  const progress = (message: string) => {
    if (!values.json) process.stderr.write(`poc: ${message}\n`);
  };
  progress(`profile ${config.profile}; identities in ${config.pkiDir}`);
  const system = await startSystem({
    config,
    onProgress: progress,
    onLog: (service, line) => {
      if (!values.quiet && !values.json) process.stdout.write(`${formatLine(service, line, colour)}\n`);
    },
  });
  const urls = Object.fromEntries(
    serviceNames.map((name) => [name, { url: config.endpoints[name].url, admin: `http://${config.adminHost}:${config.endpoints[name].adminPort}` }]),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ profile: config.profile, ca: `${config.pkiDir}/ca.crt`, services: urls })}\n`);
  } else {
    const lines = topology.map((s) => `  ${s.name.padEnd(12)} ${urls[s.name]?.url.padEnd(26)} admin ${urls[s.name]?.admin}`);
    process.stderr.write(`\nmsa-poc is up (${config.profile} profile)\n${lines.join('\n')}\n  CA certificate: ${config.pkiDir}/ca.crt\n  API: ${config.endpoints.gateway.url}/v1/products   (curl --cacert ${config.pkiDir}/ca.crt …)\nCtrl-C stops everything.\n\n`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  progress('stopping (reverse order)');
  const started = Date.now();
  await system.stop();
  progress(`stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

const commands: Record<string, (args: string[]) => Promise<number>> = {
  up,
  // Until the proving run lands, the main job is the live system.
  start: up,
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
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (error as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`poc: ${(error as Error).message}\n\n${usage}`);
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
