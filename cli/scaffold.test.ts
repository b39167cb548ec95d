import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { ServiceContract } from '@msa-poc/contracts';
import { identifierOf, planService, repositoryRoot, ScaffoldError } from './scaffold.js';
import type { TestSystem } from './testing.js';

const run = promisify(execFile);

/**
 * A copy of this checkout's sources and builds (so that the build after scaffolding is incremental),
 * with the installed packages linked rather than installed again; the workspaces link into the copy.
 */
function copyRepository(): string {
  const copy = mkdtempSync(join(tmpdir(), 'msa-poc-scaffold-'));
  const skipped = new Set(['node_modules', '.git', '.poc', 'reports', 'artifacts']);
  for (const entry of readdirSync(repositoryRoot)) {
    if (!skipped.has(entry)) cpSync(join(repositoryRoot, entry), join(copy, entry), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, filter: (path) => !/[/\\](node_modules|\.poc)$/.test(path) });
  }
  mkdirSync(join(copy, 'node_modules', '@msa-poc'), { recursive: true });
  for (const entry of readdirSync(join(repositoryRoot, 'node_modules'))) {
    if (entry !== '@msa-poc') symlinkSync(join(repositoryRoot, 'node_modules', entry), join(copy, 'node_modules', entry));
  }
  for (const workspace of readdirSync(join(repositoryRoot, 'node_modules', '@msa-poc'))) {
    symlinkSync(readlinkSync(join(repositoryRoot, 'node_modules', '@msa-poc', workspace)), join(copy, 'node_modules', '@msa-poc', workspace));
  }
  return copy;
}

const refusal = (request: Parameters<typeof planService>[0], reason: RegExp) => assert.throws(() => planService(request), (error: unknown) => error instanceof ScaffoldError && reason.test(error.message));

test('poc new service refuses a taken, invalid or unknown name and a call cycle, naming the reason', () => {
  refusal({ name: 'orders', calls: [], calledBy: [] }, /a service named "orders" already exists/);
  refusal({ name: 'console', calls: [], calledBy: [] }, /taken by a workspace or workload/);
  refusal({ name: 'synth-3', calls: [], calledBy: [] }, /synthetic service/);
  for (const bad of ['Inventory', '9lives', 'stock_keeper', 'stock--keeper', 'stock-', '', 'a'.repeat(40)]) refusal({ name: bad, calls: [], calledBy: [] }, /is not a valid service name/);
  refusal({ name: 'inventory', calls: ['warehouse'], calledBy: [] }, /--calls names "warehouse", which is not a service; the topology lists gateway, orders/);
  refusal({ name: 'inventory', calls: [], calledBy: ['shop'] }, /--called-by names "shop"/);
  refusal({ name: 'inventory', calls: ['orders'], calledBy: ['store'] }, /store → inventory → orders would close a cycle/);
  refusal({ name: 'inventory', calls: ['partner'], calledBy: [] }, /partner is external/);
  assert.equal(identifierOf('stock-keeper'), 'stockKeeper');
});

test('poc new service plans the folder, contract, topology entry, allow-lists and typed clients without writing', () => {
  const before = readFileSync(join(repositoryRoot, 'packages/contracts/topology.ts'), 'utf8');
  const changes = planService({ name: 'stock-keeper', calls: ['store'], calledBy: ['orders', 'gateway'], role: "keeps the warehouse's stock" });
  const byPath = new Map(changes.map((c) => [c.path, c]));
  assert.deepEqual(
    changes.filter((c) => c.kind === 'create').map((c) => c.path).sort(),
    ['packages/contracts/stock-keeper.ts', ...['api.test.ts', 'api.ts', 'main.ts', 'package.json', 'service.ts', 'tsconfig.json'].map((f) => `services/stock-keeper/${f}`)],
  );
  const topology = byPath.get('packages/contracts/topology.ts')!.content;
  assert.match(topology, /\{ name: 'stock-keeper', port: 8105, adminPort: 9105, role: 'keeps the warehouse\\'s stock', exposure: 'internal', calls: \['store'\] \},\n\] as const/);
  assert.match(topology, /name: 'orders', .*calls: \['store', 'stock-keeper'\] \}/);
  assert.match(byPath.get('packages/contracts/stock-keeper.ts')!.content, /callers: \['orders', 'gateway'\]/);
  assert.match(byPath.get('services/orders/service.ts')!.content, /dependencies: \{ store: storeContract, 'stock-keeper': stockKeeperContract \}/);
  assert.match(byPath.get('services/stock-keeper/service.ts')!.content, /dependencies: \{ store: storeContract \}/);
  // The store admits it on its reads, not on the routes that change something.
  const store = byPath.get('packages/contracts/store.ts')!.content;
  assert.match(store, /path: '\/products'.*\n.*callers: \['orders', 'stock-keeper'\]/);
  assert.match(store, /path: '\/orders\/:id\/transitions',[\s\S]*?callers: \['orders'\], idempotent/);
  assert.equal(readFileSync(join(repositoryRoot, 'packages/contracts/topology.ts'), 'utf8'), before, 'nothing written');
  assert.equal(existsSync(join(repositoryRoot, 'services/stock-keeper')), false);
});

test('a scaffolded service starts with the system, its caller reaches it through its typed client, and it deploys', async (t) => {
  const copy = copyRepository();
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  const poc = (...args: string[]) => run(process.execPath, [join(copy, 'cli/bin/poc.js'), ...args], { cwd: copy, maxBuffer: 16 * 1024 * 1024 });

  const dry = await poc('new', 'service', 'inventory', '--called-by', 'orders', '--dry-run');
  assert.match(dry.stderr, /would write:\n {2}change {2}packages\/contracts\/topology\.ts\n[\s\S]*create {2}services\/inventory\/service\.ts/);
  assert.equal(existsSync(join(copy, 'services/inventory')), false, '--dry-run writes nothing');

  await poc('new', 'service', 'inventory', '--called-by', 'orders', '--role', 'stock per warehouse');
  await assert.rejects(poc('new', 'service', 'inventory'), (error: { stderr: string; code: number }) => error.code === 1 && /a service named "inventory" already exists/.test(error.stderr));

  // Its own test passes, the committed deployment files and contract snapshot already include it.
  await run(process.execPath, ['--test', join(copy, 'services/inventory/dist/api.test.js')]);
  const render = (await import(pathToFileURL(join(copy, 'deploy/dist/render.js')).href)) as typeof import('@msa-poc/deploy/render');
  assert.deepEqual(render.staleFiles(join(copy, 'deploy')), []);
  assert.match(readFileSync(join(copy, 'deploy/compose.yaml'), 'utf8'), /^ {2}inventory:\n/m);
  assert.match(readFileSync(join(copy, 'deploy/k8s/inventory.yaml'), 'utf8'), /kind: NetworkPolicy[\s\S]*app.kubernetes.io\/name: orders/);
  const snapshot = JSON.parse(readFileSync(join(copy, 'packages/contracts/snapshot/contracts.json'), 'utf8')) as { services: Record<string, unknown>; events: Record<string, unknown> };
  assert.ok(snapshot.services.inventory, 'the contract snapshot has the new service');

  const { startTestSystem } = (await import(pathToFileURL(join(copy, 'cli/dist/testing.js')).href)) as typeof import('./testing.js');
  const { contracts } = (await import(pathToFileURL(join(copy, 'packages/contracts/dist/index.js')).href)) as { contracts: Record<string, ServiceContract> };
  let system: TestSystem | undefined;
  try {
    system = await startTestSystem();
    const inventory = system.services.get('inventory' as never);
    assert.ok(inventory, 'started with the system');
    const asOrders = system.client(contracts.inventory!, 'orders').client as unknown as { getItem(request: { params: { id: string } }): Promise<{ status: number; body: unknown }> };
    const reply = await asOrders.getItem({ params: { id: 'lamp-1' } });
    assert.deepEqual([reply.status, reply.body], [200, { id: 'lamp-1', service: 'inventory', askedBy: 'orders' }]);
    const asGateway = system.client(contracts.inventory!, 'gateway').client as unknown as typeof asOrders;
    await assert.rejects(asGateway.getItem({ params: { id: 'lamp-1' } }), /gateway may not call GET \/items\/:id; the contract allows orders/);
    const metrics = await (await fetch(`${inventory.adminUrl}/metrics`)).text();
    assert.match(metrics, /http_server_request_duration_seconds_count\{[^}]*route="\/items\/:id"/);
  } finally {
    await system?.dispose();
  }
});
