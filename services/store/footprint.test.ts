/**
 * The store loads the engine of its profile only: PGlite (a PostgreSQL in WebAssembly) in the
 * embedded one, the PostgreSQL driver in production, and the NATS client only where there is a broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modulesLoadedBy, packageOf } from '@msa-poc/platform/module-probe';
import { testDatabaseUrl } from './test-databases.js';

const packagesLoadedBy = (script: string) => new Set(modulesLoadedBy(script, fileURLToPath(new URL('..', import.meta.url))).map(packageOf));

test('the store service loads no database engine and no broker client until its profile opens one', () => {
  const loaded = packagesLoadedBy(`await import('@msa-poc/store/service');`);
  assert.ok(loaded.has('fastify'), 'the probe sees what the service loads');
  for (const engine of ['@electric-sql/pglite', 'pg', '@nats-io/transport-node']) assert.ok(!loaded.has(engine), `${engine} is loaded before a profile asks for it`);
});

test('the embedded profile loads PGlite and not the PostgreSQL driver; production the driver and not PGlite', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'store-footprint-'));
  try {
    const embedded = packagesLoadedBy(`
const { openDatabase } = await import('@msa-poc/store/database');
await (await openDatabase({ profile: 'embedded', dataDir: ${JSON.stringify(dataDir)} })).close();`);
    assert.ok(embedded.has('@electric-sql/pglite') && !embedded.has('pg'), `embedded loads ${[...embedded].filter((p) => /pg/.test(p)).join(', ')}`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const production = packagesLoadedBy(`
const { openDatabase } = await import('@msa-poc/store/database');
await (await openDatabase({ profile: 'production', url: ${JSON.stringify(testDatabaseUrl)} })).close();`);
  assert.ok(production.has('pg') && !production.has('@electric-sql/pglite'), `production loads ${[...production].filter((p) => /pg/.test(p)).join(', ')}`);
});
