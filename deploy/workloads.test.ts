import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { topology } from '@msa-poc/contracts';
import { callersOf, consoleWorkload, servicesAdmitting, serviceWorkloads, type BackingService } from './workloads.js';

const servicesDir = new URL('../../services/', import.meta.url);

/** A service's own source, tests left out. */
function sourceOf(service: string): string {
  const dir = new URL(`${service}/`, servicesDir);
  const files: string[] = [];
  const walk = (url: URL): void => {
    for (const entry of readdirSync(url, { withFileTypes: true })) {
      if (entry.isDirectory() && !['dist', 'node_modules', 'migrations'].includes(entry.name)) walk(new URL(`${entry.name}/`, url));
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) files.push(readFileSync(new URL(entry.name, url), 'utf8'));
    }
  };
  walk(dir);
  return files.join('\n');
}

/** The key files a service's setup loads from its keys folder, read from the calls that load them. */
function keyFilesLoadedBy(source: string): string[] {
  const files = new Set<string>();
  const loads: [RegExp, (name: string) => string][] = [
    [/\b(?:loadSigningKey|requestSigner)\(config\.keysDir, '([^']+)'\)/g, (name) => `${name}.sign.key`],
    [/\bloadVerifyKey\(config\.keysDir, '([^']+)'\)/g, (name) => `${name}.sign.pub`],
    [/\bloadOrCreateSigningKey\(config\.keysDir, '([^']+)'\)/g, (file) => file],
  ];
  for (const [pattern, file] of loads) for (const match of source.matchAll(pattern)) files.add(file(match[1]!));
  return [...files].sort();
}

const backingUsedBy = (source: string): BackingService[] =>
  (([['databaseUrl', 'postgres'], ['natsUrl', 'nats'], ['redisUrl', 'redis']] as const).filter(([setting]) => source.includes(`config.${setting}`)).map(([, server]) => server) as BackingService[]).sort();

describe('workloads', () => {
  test('each service mounts exactly the key files its source loads', () => {
    for (const workload of serviceWorkloads()) {
      assert.deepEqual([...workload.keyFiles].sort(), keyFilesLoadedBy(sourceOf(workload.name)), `${workload.name}: update serviceKeyFiles in deploy/workloads.ts`);
    }
  });

  test('each service is given exactly the servers its source connects to', () => {
    for (const workload of serviceWorkloads()) {
      assert.deepEqual([...workload.backing].sort(), backingUsedBy(sourceOf(workload.name)), `${workload.name}: update serviceBacking in deploy/workloads.ts`);
    }
  });

  test('callers come from the contracts: the gateway is public, the store is called by the services that name it', () => {
    assert.equal(callersOf('gateway'), 'anyone');
    const storeCallers = callersOf('store');
    assert.notEqual(storeCallers, 'anyone');
    for (const service of topology.filter((s) => (s.calls as readonly string[]).includes('store'))) assert.ok((storeCallers as readonly string[]).includes(service.name), `${service.name} calls the store`);
    assert.throws(() => callersOf('no-such-service'), /has no contract for it; add one to `contracts`/);
  });

  test('the console calls, and holds a certificate for, exactly the services whose contracts admit it', () => {
    assert.deepEqual(consoleWorkload.calls, servicesAdmitting('console'));
    assert.equal(consoleWorkload.identity !== undefined, consoleWorkload.calls.length > 0);
  });
});
