/**
 * Schema migrations: the plain SQL files in ../migrations, applied in name order, once each.
 * Each file runs in its own transaction together with its row in schema_migrations, so a file is
 * either wholly applied and recorded or not at all. Several store replicas may start at once: a
 * transaction-scoped advisory lock serializes them, and the loser then sees the file as applied.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { statement, type Database } from './database.js';

/** Compiled code runs from dist/, next to which the SQL files live. */
export const migrationsDirectory = new URL('../migrations/', import.meta.url);

const fileName = /^(\d{4})_[a-z0-9_]+\.sql$/;

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(directory: URL = migrationsDirectory): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = fileName.exec(name);
    if (!match?.[1]) throw new Error(`migration file ${name} is not named NNNN_words.sql`);
    const sql = await readFile(new URL(name, directory), 'utf8');
    migrations.push({ version: match[1], name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  const versions = migrations.map((m) => m.version);
  const duplicate = versions.find((v, i) => versions.indexOf(v) !== i);
  if (duplicate) throw new Error(`two migration files share version ${duplicate}`);
  return migrations;
}

// The pool's statement timeout suits requests, not schema changes on a large table, nor waiting
// for another replica's migration.
const migrationTimeoutSql = statement('setMigrationTimeout', `SET LOCAL statement_timeout = '15min'`);
// Keyed by schema, so that stores in different schemas of one database do not wait on each other.
const migrationLockSql = statement('lockMigrations', `SELECT pg_advisory_xact_lock(hashtext('msa-poc.store.migrate:' || current_schema()))`);
const migrationsTableSql = statement('createMigrationsTable', `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    text PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
const findMigrationSql = statement('findMigration', 'SELECT checksum FROM schema_migrations WHERE version = $1');
const recordMigrationSql = statement('recordMigration', 'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)');

/** Applies every migration not yet recorded; answers the names of those it applied. */
export async function migrate(db: Database, directory: URL = migrationsDirectory): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations(directory);
  const applied: string[] = [];
  for (const migration of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query(migrationTimeoutSql, []);
      await tx.query(migrationLockSql, []);
      await tx.query(migrationsTableSql, []);
      const recorded = await tx.query<{ checksum: string }>(findMigrationSql, [migration.version]);
      const previous = recorded.rows[0];
      if (previous) {
        // An applied file that changed would leave databases that differ by when they were created.
        if (previous.checksum !== migration.checksum) {
          throw new Error(`migration ${migration.name} was changed after it was applied; add a new migration instead`);
        }
        return false;
      }
      await tx.query(statement('applyMigration', migration.sql));
      await tx.query(recordMigrationSql, [migration.version, migration.name, migration.checksum]);
      return true;
    });
    if (ran) applied.push(migration.name);
  }
  return { applied };
}
