/**
 * `poc new service`: a new service folder from the platform's templates (cli/templates/service),
 * and every place the system grows from told about it: the topology (ports after the existing
 * ones), the contracts and their snapshot's index, the allow-lists of the routes it calls or is
 * called on, its callers' typed clients, the build and the workspace lock. Everything is planned
 * and checked before a file is written, so a refused request changes nothing.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clientWorkloads } from '@msa-poc/contracts';

export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const templatesDir = fileURLToPath(new URL('../templates/service/', import.meta.url));

export class ScaffoldError extends Error {}

export interface ServiceRequest {
  readonly name: string;
  /** Existing services the new one calls: it gets their typed clients, their read (GET) routes admit it. */
  readonly calls: readonly string[];
  /** Existing services that call the new one: its route admits them, they get its typed client. */
  readonly calledBy: readonly string[];
  readonly role?: string;
}

export interface FileChange {
  /** Relative to the repository root. */
  readonly path: string;
  readonly kind: 'create' | 'change';
  readonly content: string;
}

/** The topology as its source lists it: what the new service is checked against and placed after. */
interface ListedService {
  readonly name: string;
  readonly port: number;
  readonly adminPort: number;
  readonly exposure: string;
  readonly calls: string[];
  /** Its line in topology.ts. */
  readonly line: string;
}

const topologyFile = 'packages/contracts/topology.ts';
const entryLine = /^\s*\{ name: '([a-z0-9-]+)', port: (\d+), adminPort: (\d+), role: .*, exposure: '(\w+)', calls: \[([^\]]*)\] \},$/;
const topologyEnd = '] as const satisfies readonly ServiceEntry[];';

/** A lowercase DNS label (it names a host, a certificate and a folder) that starts with a letter. */
const serviceNamePattern = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
/** Names a service cannot take: the workspaces beside the services, and the synthetic services' prefix. */
const reservedNames = ['platform', 'contracts', 'harness', 'console', 'cli', 'deploy', 'packages', 'services', 'scripts', 'node', 'database'];

/** `stock-keeper` → `stockKeeper`: the name as a TypeScript identifier. */
export const identifierOf = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const typeNameOf = (name: string): string => identifierOf(name).replace(/^./, (c) => c.toUpperCase());
const quoted = (value: string): string => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

function read(root: string, path: string): string {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    throw new ScaffoldError(`${path} is missing from ${root}; run poc new service from a checkout of msa-poc`);
  }
}

export function listedServices(root: string): ListedService[] {
  const services: ListedService[] = [];
  for (const line of read(root, topologyFile).split('\n')) {
    const match = entryLine.exec(line);
    if (!match) continue;
    const [, name, port, adminPort, exposure, calls] = match as unknown as [string, string, string, string, string, string];
    services.push({ name, port: Number(port), adminPort: Number(adminPort), exposure, calls: [...calls.matchAll(/'([a-z0-9-]+)'/g)].map((m) => m[1]!), line });
  }
  if (services.length === 0) throw new ScaffoldError(`${topologyFile} lists no service in the shape poc new service reads ({ name: '…', port: …, adminPort: …, role: '…', exposure: '…', calls: [] }, one a line)`);
  return services;
}

/** The file of packages/contracts that declares `service`'s contract, and the contract's identifier. */
function contractOf(root: string, service: string): { path: string; identifier: string } {
  const dir = join(root, 'packages/contracts');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const match = new RegExp(`export const (\\w+) = contract\\(\\{\\s*service: '${service}'`).exec(readFileSync(join(dir, file), 'utf8'));
    if (match) return { path: `packages/contracts/${file}`, identifier: match[1]! };
  }
  throw new ScaffoldError(`no contract in packages/contracts declares service '${service}'`);
}

/** The first number after `after` that no service uses. */
function nextFree(after: number, used: ReadonlySet<number>): number {
  let port = after + 1;
  while (used.has(port)) port += 1;
  return port;
}

/** Whether `to` can be reached from `from` along the calls. */
function reaches(graph: ReadonlyMap<string, readonly string[]>, from: string, to: string, seen = new Set<string>()): boolean {
  if (from === to) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  return (graph.get(from) ?? []).some((next) => reaches(graph, next, to, seen));
}

function validate(root: string, request: ServiceRequest, services: readonly ListedService[]): void {
  const { name } = request;
  if (!serviceNamePattern.test(name) || name.includes('--')) {
    throw new ScaffoldError(`"${name}" is not a valid service name: use 1-32 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it names a host, a certificate, a folder and, in camel case, TypeScript identifiers), e.g. inventory or stock-keeper`);
  }
  if (services.some((s) => s.name === name) || existsSync(join(root, 'services', name))) throw new ScaffoldError(`a service named "${name}" already exists; choose another name`);
  if (clientWorkloads.some((w) => w.name === name) || reservedNames.includes(name)) throw new ScaffoldError(`"${name}" is taken by a workspace or workload of the system; choose another name`);
  if (/^synth-\d+$/.test(name)) throw new ScaffoldError(`"${name}" is the name of a synthetic service (poc up --topology synthetic:N); choose another name`);
  if (existsSync(join(root, 'packages/contracts', `${name}.ts`))) throw new ScaffoldError(`packages/contracts/${name}.ts already exists, and the contract would go there; choose another name`);
  const known = new Map(services.map((s) => [s.name, s]));
  for (const [flag, list] of [['--calls', request.calls], ['--called-by', request.calledBy]] as const) {
    for (const other of list) {
      if (other === name) throw new ScaffoldError(`${flag} names ${name} itself; a service does not call itself over the network`);
      if (!known.has(other)) throw new ScaffoldError(`${flag} names "${other}", which is not a service; the topology lists ${services.map((s) => s.name).join(', ')}`);
    }
  }
  for (const callee of request.calls) {
    if (known.get(callee)!.exposure !== 'internal') {
      throw new ScaffoldError(`--calls ${callee}: ${callee} is ${known.get(callee)!.exposure}, not reached over mutual TLS with an allow-list; call it the way its own clients do`);
    }
  }
  const graph = new Map(services.map((s) => [s.name, [...s.calls]]));
  graph.set(name, [...request.calls]);
  for (const caller of request.calledBy) graph.get(caller)!.push(name);
  for (const callee of request.calls) {
    for (const caller of request.calledBy) {
      if (reaches(graph, callee, caller)) {
        throw new ScaffoldError(`${caller} → ${name} → ${callee} would close a cycle (${callee} already leads to ${caller}), and services start after the ones they call; drop one of the two edges`);
      }
    }
  }
}

function render(template: string, values: Readonly<Record<string, string>>): string {
  const text = readFileSync(join(templatesDir, `${template}.tmpl`), 'utf8');
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template ${template} uses {{${key}}}, which poc new service does not fill`);
    return value;
  });
}

/** `text` with `marker` replaced once; the marker must be there, or the file is not in the shape we edit. */
function replaceOnce(path: string, text: string, marker: string | RegExp, replacement: (found: string) => string): string {
  const match = typeof marker === 'string' ? (text.includes(marker) ? marker : undefined) : marker.exec(text)?.[0];
  if (match === undefined) throw new ScaffoldError(`${path} no longer has ${String(marker)}, where poc new service adds the new service; add it by hand or restore that shape`);
  return text.replace(match, replacement(match));
}

/** Adds `name` to a list of quoted names written as `[…]`. */
const withName = (list: string, name: string): string => {
  const items = [...list.matchAll(/'([a-z0-9-]+)'/g)].map((m) => m[1]!);
  return `[${[...items, name].map(quoted).join(', ')}]`;
};

/** Everything `poc new service` would write and change, checked, nothing written yet. */
export function planService(request: ServiceRequest, root = repositoryRoot): FileChange[] {
  const services = listedServices(root);
  validate(root, request, services);
  const { name, calls, calledBy } = request;
  const role = request.role ?? `${name}: describe its job here and in ${topologyFile}`;
  if (/[\u0000-\u001f]|\*\//.test(role) || role.length > 200) throw new ScaffoldError('--role must be one line of at most 200 characters, without control characters or "*/"');
  const id = identifierOf(name);
  const contractName = `${id}Contract`;
  const changes: FileChange[] = [];
  const change = (path: string, edit: (text: string) => string) => changes.push({ path, kind: 'change', content: edit(read(root, path)) });

  // The topology: the new entry last, its ports after the existing ones; its callers now call it.
  const port = nextFree(Math.max(...services.filter((s) => s.exposure !== 'public').map((s) => s.port)), new Set(services.flatMap((s) => [s.port, s.adminPort])));
  const adminPort = nextFree(Math.max(...services.map((s) => s.adminPort)), new Set([...services.flatMap((s) => [s.port, s.adminPort]), port]));
  change(topologyFile, (text) => {
    let edited = text;
    for (const caller of calledBy) {
      const line = services.find((s) => s.name === caller)!.line;
      edited = edited.replace(line, line.replace(/calls: \[([^\]]*)\]/, (_, list: string) => `calls: ${withName(list, name)}`));
    }
    const entry = `  { name: ${quoted(name)}, port: ${port}, adminPort: ${adminPort}, role: ${quoted(role)}, exposure: 'internal', calls: [${calls.map(quoted).join(', ')}] },\n`;
    return replaceOnce(topologyFile, edited, topologyEnd, (end) => entry + end);
  });

  // Its contract, exported beside the others; its event joins the event catalogue.
  const values = { name, id, Id: typeNameOf(name), role, callers: calledBy.map(quoted).join(', ') };
  changes.push({ path: `packages/contracts/${name}.ts`, kind: 'create', content: render('contract.ts', values) });
  change('packages/contracts/index.ts', (text) => {
    const exported = replaceOnce('packages/contracts/index.ts', text, /(?:^export \{[^}]*\} from '\.\/[\w-]+\.js';\n)+/m, (block) => `${block}export { ${contractName}, ${typeNameOf(name)}Item, ${id}ItemChanged } from './${name}.js';\n`);
    const imported = replaceOnce('packages/contracts/index.ts', exported, /(?:^import \{[^}]*\} from '\.\/[\w-]+\.js';\n)+/m, (block) => `${block}import { ${contractName} } from './${name}.js';\n`);
    return replaceOnce('packages/contracts/index.ts', imported, /(export const contracts = \{[^}]*?)(\n\} as const;)/, (whole) => whole.replace(/\n\} as const;$/, `\n  ${/-/.test(name) ? quoted(name) : name}: ${contractName},\n} as const;`));
  });
  change('packages/contracts/events.ts', (text) => {
    const imported = replaceOnce('packages/contracts/events.ts', text, /(?:^import [^;]*;\n)+/m, (block) => `${block}import { ${id}ItemChanged } from './${name}.js';\n`);
    return replaceOnce('packages/contracts/events.ts', imported, /export const events = \{([^}]*)\} as const;/, (found) => found.replace(/\s*\} as const;$/, `, ${id}ItemChanged } as const;`));
  });

  // The services it calls admit it on their routes; the services that call it get its typed client.
  for (const callee of calls) {
    const { path } = contractOf(root, callee);
    change(path, (text) => {
      // Its reads only: a route that changes something admits a new caller by a deliberate edit.
      const [head, ...routes] = text.split('route({');
      const edited = [head, ...routes.map((body) => (/method: 'GET'/.test(body.split('callers:')[0] ?? '') ? body.replace(/callers: \[([^\]]*)\]/, (_, list: string) => `callers: ${withName(list, name)}`) : body))].join('route({');
      if (edited === text) throw new ScaffoldError(`${path} has no GET route with a callers list for ${name} to read; admit it on the routes it calls by hand`);
      return edited;
    });
  }
  for (const caller of calledBy) {
    const path = `services/${caller}/service.ts`;
    change(path, (text) => {
      const withImport = replaceOnce(path, text, /import \{([^}]*)\} from '@msa-poc\/contracts';/, (found) => found.replace(/\s*\} from/, `, ${contractName} } from`));
      return replaceOnce(path, withImport, /dependencies: \{([^}]*)\}/, (found) => {
        const inner = found.slice('dependencies: {'.length, -1).trim();
        return `dependencies: { ${inner ? `${inner}, ` : ''}${/-/.test(name) ? quoted(name) : name}: ${contractName} }`;
      });
    });
  }

  // The service folder, from the templates.
  const contractImports = [contractName, ...calls.map((callee) => contractOf(root, callee).identifier)];
  const dependencies = calls.length === 0 ? '{}' : `{ ${calls.map((callee) => `${/-/.test(callee) ? quoted(callee) : callee}: ${contractOf(root, callee).identifier}`).join(', ')} }`;
  const folderValues = { ...values, contractImports: contractImports.join(', '), dependencies };
  for (const [template, file] of [['main.ts', 'main.ts'], ['service.ts', 'service.ts'], ['api.ts', 'api.ts'], ['api.test.ts', 'api.test.ts'], ['package.json', 'package.json'], ['tsconfig.json', 'tsconfig.json']] as const) {
    changes.push({ path: `services/${name}/${file}`, kind: 'create', content: render(template, folderValues) });
  }

  // The build and the workspace lock know every service by name (the workspaces glob takes it already).
  change('tsconfig.json', (text) => {
    const config = JSON.parse(text) as { references: { path: string }[] };
    const lastService = config.references.findLastIndex((r) => r.path.startsWith('services/'));
    config.references.splice(lastService + 1, 0, { path: `services/${name}` });
    return `${JSON.stringify(config, null, 2)}\n`;
  });
  change('package-lock.json', (text) => {
    const lock = JSON.parse(text) as { packages: Record<string, unknown> };
    const packages = { ...lock.packages, [`node_modules/@msa-poc/${name}`]: { resolved: `services/${name}`, link: true }, [`services/${name}`]: { name: `@msa-poc/${name}`, version: '0.1.0', dependencies: { '@msa-poc/contracts': '0.1.0', '@msa-poc/platform': '0.1.0' } } };
    // npm keeps the packages sorted by path.
    lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b, 'en')));
    return `${JSON.stringify(lock, null, 2)}\n`;
  });
  return changes;
}

export function applyChanges(changes: readonly FileChange[], root = repositoryRoot): void {
  for (const file of changes) {
    const path = join(root, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
  }
}

export const describeChanges = (changes: readonly FileChange[], root = repositoryRoot): string[] =>
  changes.map((c) => `${c.kind === 'create' ? 'create' : 'change'}  ${relative(process.cwd(), join(root, c.path)) || c.path}`);

/**
 * After the files: the build of what `poc up` runs anew (the contracts, the new service, its callers)
 * and of the generators, then the files generated from the topology and the contracts. The CLI, the
 * harness and the console only type-check against the new contracts: `npm run build` does that.
 */
const followUps = (name: string, callers: readonly string[]) => [
  { what: 'building it and its callers (tsc -b)', args: ['node_modules/typescript/bin/tsc', '-b', `services/${name}`, ...callers.map((c) => `services/${c}`), 'deploy'] },
  { what: 'rendering the deployment files (npm run deploy:render)', args: ['deploy/dist/render.js'] },
  { what: 'refreshing the contract snapshot (npm run contracts:snapshot)', args: ['scripts/snapshot-contracts.mjs'] },
];

/**
 * `poc new service <name> [--calls a,b] [--called-by c] [--role "…"] [--dry-run]`: plans, writes,
 * builds and regenerates; exit code 1 with the reason when the request is refused or a step fails.
 */
export function newService(args: string[], out: (line: string) => void = (line) => process.stderr.write(`${line}\n`), root = repositoryRoot): number {
  const [kind, ...rest] = args;
  if (kind !== 'service') throw new ScaffoldError(`new takes service${kind ? `, not "${kind}"` : ''}: poc new service <name> [--calls a,b] [--called-by c] [--role "…"] [--dry-run]`);
  const { values, positionals } = parseArgs({ args: rest, options: { calls: { type: 'string' }, 'called-by': { type: 'string' }, role: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new ScaffoldError('poc new service takes one name, e.g. poc new service inventory --called-by orders');
  const list = (raw: string | undefined) => [...new Set((raw ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
  const request = { name, calls: list(values.calls), calledBy: list(values['called-by']), ...(values.role === undefined ? {} : { role: values.role }) };
  const changes = planService(request, root);
  if (values['dry-run']) {
    out(`poc new service ${name} would write:`);
    for (const line of describeChanges(changes, root)) out(`  ${line}`);
    return 0;
  }
  applyChanges(changes, root);
  for (const line of describeChanges(changes, root)) out(line);
  for (const step of followUps(name, request.calledBy)) {
    out(`${name}: ${step.what}`);
    const result = spawnSync(process.execPath, step.args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) {
      out(`${name}: the files are written, but ${step.what} failed (above). Fix it, then run: npm run build && npm run deploy:render && npm run contracts:snapshot`);
      return 1;
    }
  }
  out(`${name} is in the topology: poc up starts it, services/${name}/ is its folder, packages/contracts/${name}.ts its contract; npm run build type-checks the rest against it.`);
  return 0;
}
