// The build stage of Containerfile, in Node rather than shell so that a base image needs nothing
// but node and npm: install everything, compile the workspace, then replace the tree by the
// workspace-focused production install and copy what runs into /out.
//
//   SERVICE=orders [WORKSPACE=services/orders] node deploy/images/build-workspace.mjs
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const service = process.env.SERVICE ?? '';
const workspace = process.env.WORKSPACE || `services/${service}`;
const out = process.env.OUT || '/out';

function fail(message) {
  process.stderr.write(`build-workspace: ${message}\n`);
  process.exit(2);
}

if (!service) fail('SERVICE is not set; pass --build-arg SERVICE=<name> (a service of packages/contracts/topology.ts, or console)');
if (!existsSync(join(workspace, 'package.json'))) fail(`${workspace}/package.json does not exist; is "${service}" in the topology (or set WORKSPACE to its folder)?`);

// npm ships next to node in every Node distribution: <prefix>/bin/node, <prefix>/lib/node_modules/npm.
const npmCli = resolve(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');
if (!existsSync(npmCli)) fail(`npm is not at ${npmCli}; the base image needs npm installed beside node`);

function run(what, args) {
  process.stdout.write(`build-workspace: ${what}\n`);
  const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (result.status !== 0) fail(`${what} failed (exit ${result.status ?? result.signal})`);
}

const quiet = ['--ignore-scripts', '--no-audit', '--no-fund'];
run('install every dependency to compile', [npmCli, 'ci', ...quiet]);
run(`compile ${workspace} and the workspaces it references`, ['node_modules/typescript/bin/tsc', '-b', workspace]);
run(`install the production dependencies of ${workspace} only`, [npmCli, 'ci', '--omit=dev', '--workspace', workspace, ...quiet]);

const isBuildLeftover = (path) => /\.test\.(js|d\.ts)(\.map)?$|\.tsbuildinfo$/.test(path);
const copy = (path) => cpSync(path, join(out, path), { recursive: true, verbatimSymlinks: true, filter: (source) => !isBuildLeftover(source) });

mkdirSync(out, { recursive: true });
copy('package.json');
copy('node_modules');
// The focused install links exactly the workspaces this one needs under node_modules/@msa-poc.
for (const link of readdirSync('node_modules/@msa-poc')) {
  const target = relative('.', resolve('node_modules/@msa-poc', readlinkSync(join('node_modules/@msa-poc', link))));
  for (const part of ['package.json', 'dist', 'migrations', 'node_modules']) {
    if (existsSync(join(target, part))) copy(join(target, part));
  }
}
copy('deploy/images/healthcheck.mjs');
rmSync(join(out, 'node_modules/.package-lock.json'), { force: true });
process.stdout.write(`build-workspace: ${workspace} and its production dependencies are in ${out}\n`);
