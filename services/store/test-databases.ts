/**
 * The two backends every store test runs on: PGlite in a temporary directory, and PostgreSQL in a
 * schema of its own (created for the test file, dropped after it), so tests never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, redactUrl, type Database } from './database.js';

export const testDatabaseUrl = process.env['POC_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Backend {
  name: 'PGlite' | 'PostgreSQL';
  /** A new, empty database; `dispose` removes it. */
  fresh(options?: { poolSize?: number }): Promise<{ db: Database; place: string; dispose(): Promise<void> }>;
}

let template: Promise<string> | undefined;

/**
 * An initialised, empty PGlite data directory, made once per test process: initdb takes seconds,
 * copying its result a fraction of that. Removed when the process exits.
 */
function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'msa-poc-store-template-'));
    process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    await (await openDatabase({ profile: 'embedded', dataDir })).close();
    return dataDir;
  })();
  return template;
}

/** A new directory holding an empty embedded database. */
export async function freshPgliteDir(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'msa-poc-store-test-'));
  await cp(await pgliteTemplate(), dataDir, { recursive: true });
  return dataDir;
}

export const pgliteBackend: Backend = {
  name: 'PGlite',
  async fresh() {
    const dataDir = await freshPgliteDir();
    const db = await openDatabase({ profile: 'embedded', dataDir });
    return {
      db,
      place: dataDir,
      async dispose() {
        await db.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresBackend: Backend = {
  name: 'PostgreSQL',
  async fresh(options = {}) {
    const admin = await openAdmin();
    const schema = `store_test_${randomBytes(6).toString('hex')}`;
    try {
      await admin.query(`CREATE SCHEMA ${schema}`);
      const db = await openDatabase({ profile: 'production', url: testDatabaseUrl, schema, poolSize: options.poolSize ?? 12 });
      return {
        db,
        place: schema,
        async dispose() {
          await db.close();
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await admin.close();
        },
      };
    } catch (error) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.close();
      throw error;
    }
  },
};

/** A connection without a schema of its own; its failure is the message a missing server deserves. */
export async function openAdmin(): Promise<Database> {
  try {
    return await openDatabase({ profile: 'production', url: testDatabaseUrl, poolSize: 2 });
  } catch (error) {
    throw new Error(
      `the store's PostgreSQL tests need a server at ${redactUrl(testDatabaseUrl)} (set POC_TEST_DATABASE_URL to use another); they are never skipped. ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export const backends: Backend[] = [pgliteBackend, postgresBackend];
