import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadMigrations, migrate } from './migrate.js';
import { openDatabase, type Database } from './database.js';
import { backends, testDatabaseUrl } from './test-databases.js';

/** A throwaway migrations directory holding the given files. */
async function migrationsDir(files: Record<string, string>): Promise<{ url: URL; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'msa-poc-migrations-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return { url: pathToFileURL(`${dir}/`), remove: () => rm(dir, { recursive: true, force: true }) };
}

const tableExists = async (db: Database, table: string) =>
  (await db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table])).rows[0]?.found === true;

for (const backend of backends) {
  describe(`migrations on ${backend.name}`, () => {
    it('applies every file once, records it, and a second run applies nothing', async () => {
      const { db, dispose } = await backend.fresh();
      try {
        const files = (await loadMigrations()).map((m) => m.name);
        assert.ok(files.length >= 2);
        assert.deepEqual((await migrate(db)).applied, files);
        assert.deepEqual((await migrate(db)).applied, []);
        const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
        assert.deepEqual(recorded.rows.map((r) => r.name), files);
        const products = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
        assert.equal(products.rows[0]?.n, 50, 'the seed ran exactly once');
      } finally {
        await dispose();
      }
    });

    it('two concurrent runs apply each file exactly once between them', async () => {
      const { db, place, dispose } = await backend.fresh();
      // On PostgreSQL the second runner is a separate pool, as a second replica would be.
      const other = backend.name === 'PostgreSQL'
        ? await openDatabase({ profile: 'production', url: testDatabaseUrl, schema: place, poolSize: 2 })
        : db;
      try {
        const [a, b] = await Promise.all([migrate(db), migrate(other)]);
        const files = (await loadMigrations()).map((m) => m.name);
        assert.deepEqual([...a.applied, ...b.applied].sort(), files);
        const recorded = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
        assert.equal(recorded.rows[0]?.n, files.length);
        const products = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
        assert.equal(products.rows[0]?.n, 50);
      } finally {
        if (other !== db) await other.close();
        await dispose();
      }
    });

    it('a failing file leaves nothing of itself behind and is not recorded', async () => {
      const { db, dispose } = await backend.fresh();
      const dir = await migrationsDir({
        '0001_good.sql': 'CREATE TABLE good (id int PRIMARY KEY);',
        '0002_bad.sql': 'CREATE TABLE half_done (id int);\nINSERT INTO good VALUES (1);\nSELECT 1 / 0;',
      });
      try {
        await assert.rejects(migrate(db, dir.url), /division by zero/);
        assert.equal(await tableExists(db, 'good'), true);
        assert.equal(await tableExists(db, 'half_done'), false);
        const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM good');
        assert.equal(rows.rows[0]?.n, 0);
        const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations');
        assert.deepEqual(recorded.rows.map((r) => r.name), ['0001_good.sql']);
      } finally {
        await dir.remove();
        await dispose();
      }
    });

    it('refuses to run when an applied file was edited afterwards', async () => {
      const { db, dispose } = await backend.fresh();
      const first = await migrationsDir({ '0001_thing.sql': 'CREATE TABLE thing (id int);' });
      const edited = await migrationsDir({ '0001_thing.sql': 'CREATE TABLE thing (id bigint);' });
      try {
        assert.deepEqual((await migrate(db, first.url)).applied, ['0001_thing.sql']);
        await assert.rejects(migrate(db, edited.url), /0001_thing\.sql was changed after it was applied/);
      } finally {
        await first.remove();
        await edited.remove();
        await dispose();
      }
    });
  });
}

describe('migration files', () => {
  it('rejects a file whose name does not carry a version', async () => {
    const dir = await migrationsDir({ 'init.sql': 'SELECT 1;' });
    try {
      await assert.rejects(loadMigrations(dir.url), /init\.sql is not named NNNN_words\.sql/);
    } finally {
      await dir.remove();
    }
  });
});
