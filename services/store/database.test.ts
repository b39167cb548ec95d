import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@msa-poc/platform/config';
import { Metrics } from '@msa-poc/platform/metrics';
import { InMemorySpanExporter, SpanKind, SpanStatusCode, createTracing, inSpan } from '@msa-poc/platform/tracing';
import { openDatabase, redactUrl, statement, type Database } from './database.js';
import { openAdmin, postgresBackend, testDatabaseUrl } from './test-databases.js';

describe('redactUrl', () => {
  it('drops the password, wherever the URL carries it', () => {
    assert.equal(redactUrl('postgres://app:hunter2@db.internal:5432/shop?sslmode=require'), 'postgres://app@db.internal:5432/shop?sslmode=require');
    assert.equal(redactUrl('postgres://app@db/shop?password=hunter2&application_name=x'), 'postgres://app@db/shop?application_name=x');
    assert.doesNotMatch(redactUrl('not a url with hunter2'), /hunter2/);
  });
});

describe('PGlite', () => {
  it('says which directory it could not open', async () => {
    await assert.rejects(openDatabase({ profile: 'embedded', dataDir: '/dev/null/msa-poc-cannot-be-here' }), /\/dev\/null\/msa-poc-cannot-be-here/);
  });

  describe('named statements (prepared once)', () => {
    let dir: string;
    let db: Database;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'poc-db-prepared-'));
      db = await openDatabase({ profile: 'embedded', dataDir: dir });
      await db.query(`CREATE TABLE items (id bigint PRIMARY KEY, tags text[] NOT NULL, doc jsonb, at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT items_id_positive CHECK (id > 0))`);
    });
    after(async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const insert = statement('insertItem', 'INSERT INTO items (id, tags, doc) VALUES ($1, $2::text[], $3::jsonb) RETURNING id, tags, doc, at');
    const read = statement('readItems', 'SELECT id, tags, doc FROM items WHERE id = ANY($1::bigint[]) ORDER BY id');

    it('answers as the same text sent unnamed: values converted and rows parsed alike, nulls included', async () => {
      const named = await db.query<{ id: number; tags: string[]; doc: unknown; at: Date }>(insert, [1, ['a', 'b "quoted"'], JSON.stringify({ n: 1 })]);
      const unnamed = await db.query<{ id: number; tags: string[]; doc: unknown; at: Date }>(insert.text, [2, ['a', 'b "quoted"'], JSON.stringify({ n: 1 })]);
      assert.deepEqual({ ...named.rows[0], at: undefined }, { ...unnamed.rows[0], id: 1, at: undefined });
      assert.ok(named.rows[0]?.at instanceof Date);
      assert.equal(named.rowCount, 1);
      await db.query(insert, [3, [], null]);
      assert.deepEqual((await db.query(read, [[1, 3, 99]])).rows, [{ id: 1, tags: ['a', 'b "quoted"'], doc: { n: 1 } }, { id: 3, tags: [], doc: null }]);
    });

    it('a failing statement names its SQLSTATE and constraint, rolls its transaction back, and the statement still works after', async () => {
      const failed = await db.transaction(async (tx) => {
        await tx.query(insert, [10, ['kept?'], null]);
        await tx.query(insert, [-1, [], null]);
      }).catch((error: unknown) => error as { code?: string; constraint?: string });
      assert.equal(failed?.code, '23514');
      assert.equal(failed?.constraint, 'items_id_positive');
      assert.deepEqual((await db.query(read, [[10]])).rows, [], 'the transaction was rolled back');
      await assert.rejects(db.query(insert, [1, [], null]), (error: { code?: string }) => error.code === '23505');
      assert.equal((await db.query(insert, [11, ['after'], null])).rowCount, 1);
    });

    it('a statement issued while a transaction is open runs after it, never inside it', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => { release = resolve; });
      let inserted!: () => void;
      const insertedYet = new Promise<void>((resolve) => { inserted = resolve; });
      const transaction = db.transaction(async (tx) => {
        await tx.query(insert, [20, ['uncommitted'], null]);
        inserted();
        await held;
        throw new Error('rolled back on purpose');
      });
      await insertedYet;
      // Issued while the transaction waits between its statements: it must see the database without that row.
      const outside = db.query<{ id: number }>(read, [[20]]);
      setTimeout(release, 20);
      await assert.rejects(transaction, /rolled back on purpose/);
      assert.deepEqual((await outside).rows, []);
    });
  });
});

describe('statements, traced and measured by name', () => {
  it('inside traced work a statement is a CLIENT span named after it, with a summary and never a value; outside it is only measured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-db-telemetry-'));
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ service: 'store', settings: loadConfig({}).tracing, exporter });
    const metrics = new Metrics('store');
    const db = await openDatabase({ profile: 'embedded', dataDir: dir, telemetry: { tracer: tracing.tracer, metrics } });
    try {
      await db.query('CREATE TABLE secrets (id int PRIMARY KEY, value text)');
      const store = statement('storeSecret', 'INSERT INTO secrets (id, value) VALUES ($1, $2)');
      const read = statement('readSecret', 'SELECT s.value FROM secrets s WHERE s.id = $1');
      await inSpan(tracing.tracer, 'POST /secrets', {}, () => db.query(store, [1, 'top-secret-value']));
      await db.query(store, [2, 'an idle poll, say']);
      await inSpan(tracing.tracer, 'GET /secrets/:id', {}, () => db.transaction((tx) => tx.query(read, [1])));
      await assert.rejects(inSpan(tracing.tracer, 'GET /broken', {}, () => db.query(statement('readNowhere', 'SELECT * FROM nowhere'))));
      await tracing.flush();
      const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      assert.deepEqual(spans.map((s) => s.name), ['storeSecret', 'readSecret', 'readNowhere'], 'one span per statement, none outside traced work');
      assert.deepEqual(spans[0]?.attributes, {
        'db.system.name': 'postgresql', 'msa.db.engine': 'pglite', 'peer.service': 'database', 'db.operation.name': 'storeSecret', 'db.query.summary': 'INSERT secrets',
      });
      assert.equal(spans[1]?.attributes['db.query.summary'], 'SELECT secrets');
      assert.equal(spans[2]?.status.code, SpanStatusCode.ERROR);
      assert.equal(spans[2]?.attributes['error.type'], '42P01', 'the SQLSTATE names the failure');
      assert.doesNotMatch(JSON.stringify(spans.map((s) => s.attributes)), /top-secret-value/);
      const text = await metrics.registry.metrics();
      assert.match(text, /^db_client_operation_duration_seconds_count\{[^}]*db_operation_name="storeSecret",outcome="ok"\} 2$/m);
      assert.match(text, /^db_client_operation_duration_seconds_count\{[^}]*db_operation_name="readNowhere",outcome="error"\} 1$/m);
      assert.match(text, /^db_client_connection_count\{state="idle"[^}]*\} 1$/m, 'PGlite is one connection, idle now');
      assert.match(text, /^db_client_connection_pending_requests\{[^}]*\} 0$/m);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL connection', () => {
  let admin: Database;
  before(async () => {
    admin = await openAdmin();
  });
  after(async () => {
    await admin.close();
  });

  it('a connection failure names the URL without its password and says what to check', async () => {
    const error = await openDatabase({ profile: 'production', url: 'postgres://someone:s3cret-pw@127.0.0.1:1/nowhere' }).then(
      () => assert.fail('connected to a port nobody listens on'),
      (e: unknown) => e as Error,
    );
    assert.match(error.message, /postgres:\/\/someone@127\.0\.0\.1:1\/nowhere/);
    assert.match(error.message, /Check that the server is running/);
    assert.doesNotMatch(error.message, /s3cret-pw/);
  });

  it('a schema that does not exist is named in the error', async () => {
    await assert.rejects(
      openDatabase({ profile: 'production', url: testDatabaseUrl, schema: 'no_such_schema_here' }),
      /schema "no_such_schema_here" does not exist/,
    );
  });

  it('an idle connection dropped by the server is reported, not fatal, and the pool recovers', async () => {
    const { db: unused, place, dispose } = await postgresBackend.fresh({ poolSize: 1 });
    await unused.close();
    const idleErrors: Error[] = [];
    const db = await openDatabase({ profile: 'production', url: testDatabaseUrl, schema: place, poolSize: 1, onIdleError: (e) => idleErrors.push(e) });
    try {
      const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      assert.ok(pid);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const deadline = Date.now() + 5_000;
      while (idleErrors.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(idleErrors.length, 1, 'the idle client error reached the listener');
      const again = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      assert.ok(again && again !== pid, 'a new connection serves the next query');
    } finally {
      await db.close();
      await dispose();
    }
  });

  it('a connection lost inside a transaction fails that transaction, not the process, and is not pooled again', async () => {
    const { db, dispose } = await postgresBackend.fresh({ poolSize: 1 });
    try {
      const failed = db.transaction(async (tx) => {
        const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // The server's notice arrives while this transaction is between statements.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await tx.query('SELECT 1');
      });
      await assert.rejects(failed);
      await db.ping();
    } finally {
      await dispose();
    }
  });
});
