/**
 * One database interface over two engines: PGlite (PostgreSQL compiled to WASM, running inside the
 * store process, files on disk) for the embedded profile, and a node-postgres pool for production.
 * Everything above this file is written once against `Database` and runs the same SQL on both.
 */
import { mkdir } from 'node:fs/promises';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type pg from 'pg';
import { ProblemError } from '@msa-poc/platform/errors';
import { latencyBuckets, type Gauge, type Metrics } from '@msa-poc/platform/metrics';
import { SpanKind, activeSpanRecording, attr, inSpan, type Attributes, type Tracer } from '@msa-poc/platform/tracing';

export interface QueryResult<T> {
  rows: T[];
  /** Rows returned, inserted, updated or deleted by the (last) statement. */
  rowCount: number;
}

/**
 * A statement under a name: spans and metrics show the name and a summary (the command and the
 * tables it touches), never the text's parameters.
 */
export interface Statement {
  /** e.g. `placeOrder`, `listOrders`: the span's name and the `db_operation_name` label. */
  readonly name: string;
  readonly text: string;
  /** e.g. `SELECT orders order_lines`. */
  readonly summary: string;
}

/** Names a statement once, where it is written; its summary is worked out here, not per query. */
export const statement = (name: string, text: string): Statement => ({ name, text, summary: summarize(text) });

const cteName = /(?:\bWITH|,)\s*([a-z_][a-z0-9_]*)\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(/gi;
// A name after FROM or JOIN followed by `(` is a function (jsonb_to_recordset), after INTO a column list.
const tableReference = /\b(?:(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b(?!\s*\()|(?:INTO|UPDATE)\s+([a-z_][a-z0-9_]*)\b)/gi;
const notTables = new Set(['set', 'select', 'only', 'lateral', 'of', 'skip', 'nowait']);

/** `SELECT orders order_lines`: the statement's first command and the tables it names, CTEs left out. */
function summarize(text: string): string {
  const command = /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
  const ctes = new Set([...text.matchAll(cteName)].map((match) => (match[1] as string).toLowerCase()));
  const tables = new Set<string>();
  for (const match of text.matchAll(tableReference)) {
    const table = ((match[1] ?? match[2]) as string).toLowerCase();
    if (!ctes.has(table) && !notTables.has(table)) tables.add(table);
  }
  return [command, ...tables].join(' ').slice(0, 255);
}

export interface Queryable {
  /**
   * Runs one statement with `$1…$n` parameters, in one round trip. Without parameters the text may
   * hold several statements (the simple query protocol, as migrations need); the result is the last one's.
   * A named statement is traced and measured under its name; plain text (ad hoc, tests) under its command.
   */
  query<T>(sql: Statement | string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` inside BEGIN … COMMIT on one connection; any throw rolls back and is rethrown. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Where a store's database reports: a span per statement inside traced work, durations and connection use. */
export interface DatabaseTelemetry {
  readonly tracer: Tracer;
  readonly metrics: Metrics;
}

export type DatabaseOptions =
  | { profile: 'embedded'; dataDir: string; telemetry?: DatabaseTelemetry }
  | {
      profile: 'production';
      telemetry?: DatabaseTelemetry;
      url: string;
      poolSize?: number;
      /** Every query runs with this schema first on its search_path; it must exist. */
      schema?: string;
      /** Told about errors of idle pooled connections (the pool has already dropped them); default: a process warning. */
      onIdleError?: (error: Error) => void;
    };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.profile === 'embedded' ? openPglite(options.dataDir, options.telemetry) : openPostgres(options);
}

interface ConnectionUse {
  readonly used: number;
  readonly idle: number;
  /** Callers waiting for a connection. */
  readonly pending: number;
}

type Observe = <T>(sql: Statement | string, run: (text: string) => Promise<QueryResult<T>>) => Promise<QueryResult<T>>;

/**
 * Wraps every statement in a CLIENT span (only inside traced work: a statement of an idle poll or a
 * migration would be a trace of its own, noise for the console) and a duration sample, and exposes
 * how the connections are used.
 */
function instrument(engine: 'pglite' | 'pg', telemetry: DatabaseTelemetry | undefined, connections: () => ConnectionUse): Observe {
  if (!telemetry) return (sql, run) => run(typeof sql === 'string' ? sql : sql.text);
  const { tracer, metrics } = telemetry;
  const duration = metrics.histogram({
    name: 'db_client_operation_duration_seconds', help: 'Duration of database statements, by statement name and outcome',
    labelNames: ['db_operation_name', 'outcome'] as const, buckets: latencyBuckets,
  });
  const connectionCount: Gauge<'state'> = metrics.gauge({
    name: 'db_client_connection_count', help: 'Database connections by state (PGlite is one connection, used while a statement or transaction runs)',
    labelNames: ['state'] as const,
    collect: () => {
      const use = connections();
      connectionCount.set({ state: 'used' }, use.used);
      connectionCount.set({ state: 'idle' }, use.idle);
    },
  });
  const pending: Gauge = metrics.gauge({
    name: 'db_client_connection_pending_requests', help: 'Statements and transactions waiting for a database connection',
    collect: () => pending.set(connections().pending),
  });
  const common = { [attr.dbSystem]: 'postgresql', [attr.dbEngine]: engine, [attr.peerService]: 'database' };
  return async (sql, run) => {
    const named = typeof sql === 'string' ? { name: /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? 'SQL', text: sql, summary: undefined } : sql;
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = activeSpanRecording()
        ? await inSpan(tracer, named.name, { kind: SpanKind.CLIENT, attributes: spanAttributes(common, named) }, () => run(named.text))
        : await run(named.text);
      outcome = 'ok';
      return result;
    } finally {
      duration.observe({ db_operation_name: named.name, outcome }, (performance.now() - started) / 1000);
    }
  };
}

function spanAttributes(common: Attributes, named: { name: string; text: string; summary: string | undefined }): Attributes {
  return { ...common, [attr.dbOperation]: named.name, [attr.dbSummary]: named.summary ?? summarize(named.text) };
}

/** The SQLSTATE of a database error from either engine (both expose it as `code`). */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint a database error names, when it names one. */
export function violatedConstraint(error: unknown): string | undefined {
  const constraint = (error as { constraint?: unknown } | null)?.constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Embedded: PGlite

async function openPglite(dataDir: string, telemetry: DatabaseTelemetry | undefined): Promise<Database> {
  // Each engine is loaded by the profile that uses it only: the other one is code in memory for nothing.
  const engine = await import('@electric-sql/pglite');
  const { PGlite } = engine;
  // The default (strict) durability writes every commit through to the files in dataDir before the
  // query resolves, so a killed process loses nothing it acknowledged.
  let pglite: PGlite;
  try {
    await mkdir(dataDir, { recursive: true });
    pglite = new PGlite(dataDir);
    await pglite.waitReady;
  } catch (error) {
    throw new Error(`cannot open the embedded database in ${dataDir}: ${message(error)}. Check that the directory is writable and not used by another running store.`, { cause: error });
  }

  // PGlite is a single connection: it queues queries and runs a transaction exclusively, so
  // concurrent callers are safe and see the same semantics as separate pooled connections.
  const run = async <T>(target: PGlite | Transaction, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    if (params === undefined || params.length === 0) {
      const results = await target.exec(text);
      const last = results[results.length - 1];
      return { rows: (last?.rows ?? []) as T[], rowCount: last ? pgliteRowCount(last) : 0 };
    }
    const result = await target.query<T>(text, params);
    return { rows: result.rows, rowCount: pgliteRowCount(result) };
  };

  const prepared = preparedStatements(pglite, engine);
  // One statement or one transaction at a time, as PGlite itself runs them: a prepared statement
  // goes to PGlite's protocol directly, beside its own queue, so this one orders everything.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const next = tail.then(work, work);
    tail = next.catch(() => undefined);
    return next;
  };

  // Statements and transactions issued and not yet finished: the first holds the one connection, the rest queue.
  let inFlight = 0;
  const observe = instrument('pglite', telemetry, () => ({ used: inFlight > 0 ? 1 : 0, idle: inFlight > 0 ? 0 : 1, pending: Math.max(0, inFlight - 1) }));
  const counted = async <T>(work: () => Promise<T>): Promise<T> => {
    inFlight += 1;
    try {
      return await work();
    } finally {
      inFlight -= 1;
    }
  };

  let closed = false;
  return {
    kind: 'pglite',
    query: (sql, params) => counted(() => exclusive(() => observe(sql, (text) => (preparable(sql, params) ? prepared.run(text, params, true) : run(pglite, text, params))))),
    transaction: (fn) => counted(() => exclusive(() => pglite.transaction((tx) => fn({
      // Inside PGlite's transaction, in turn with its own queries; nothing is durable before COMMIT.
      query: (sql, params) => observe(sql, (text) => (preparable(sql, params) ? pglite.runExclusive(() => prepared.run(text, params, false)) : run(tx, text, params))),
    })))),
    // Through the same queue: a PGlite query that ran beside a prepared statement could take its results.
    ping: () => exclusive(async () => {
      await pglite.query('SELECT 1');
    }),
    close: () => exclusive(async () => {
      if (closed) return;
      closed = true;
      await pglite.close();
    }),
  };
}

function pgliteRowCount(result: { rows: unknown[]; rowCount?: number; affectedRows?: number }): number {
  return result.rowCount ?? result.affectedRows ?? result.rows.length;
}

/** A named statement with parameters: one statement (text without parameters may hold several), run often. */
const preparable = (sql: Statement | string, params: unknown[] | undefined): params is unknown[] => typeof sql !== 'string' && params !== undefined && params.length > 0;

/**
 * The store's named statements as prepared statements of PGlite's one session. PGlite's `query`
 * parses, plans and describes the text on every call, in six calls into its WebAssembly module; a
 * statement prepared once is bound and executed in one call, with no parsing. On the store's order
 * read (getOrder) that was 224 to 428 µs of CPU per call through `query` and 57 to 103 µs prepared
 * (three runs of 600 calls), and the store spends half its busy time under load inside PGlite.
 * Parameters are converted and rows parsed by PGlite's own serializers and parsers, as `query` does.
 * The caller runs one statement at a time, and no PGlite query beside it: PGlite keeps the results of
 * the protocol call in progress in one place, which a concurrent call would replace.
 */
function preparedStatements(pglite: PGlite, { parse: pgliteResults, protocol }: typeof import('@electric-sql/pglite')) {
  const { serialize } = protocol;
  const known = new Map<string, { name: string; types: number[] }>();
  const send = async (messages: Uint8Array[], syncToFs: boolean) => {
    const bytes = new Uint8Array(messages.reduce((sum, m) => sum + m.length, 0));
    let at = 0;
    for (const m of messages) {
      bytes.set(m, at);
      at += m.length;
    }
    return (await pglite.execProtocol(bytes, { syncToFs })).messages;
  };
  const prepare = async (text: string) => {
    const existing = known.get(text);
    if (existing) return existing;
    // Prepared statements belong to the session, not to a transaction: one prepared inside a
    // transaction that rolls back stays prepared.
    const name = `store_${known.size + 1}`;
    const described = await send([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()], false);
    const statement = { name, types: pgliteResults.parseDescribeStatementResults(described) };
    known.set(text, statement);
    return statement;
  };
  return {
    async run<T>(text: string, params: unknown[], syncToFs: boolean): Promise<QueryResult<T>> {
      const { name, types } = await prepare(text);
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const type = types[i] as number;
        const serializer = pglite.serializers[type];
        return serializer ? serializer(value) : String(value);
      });
      const messages = await send([serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()], syncToFs);
      const result = pgliteResults.parseResults(messages, pglite.parsers)[0] ?? { rows: [], affectedRows: 0 };
      return { rows: result.rows as T[], rowCount: pgliteRowCount(result) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Production: PostgreSQL through a node-postgres pool

const schemaName = /^[a-z_][a-z0-9_]{0,62}$/;

async function openPostgres(options: Extract<DatabaseOptions, { profile: 'production' }>): Promise<Database> {
  const where = redactUrl(options.url);
  if (options.schema !== undefined && !schemaName.test(options.schema)) {
    throw new Error(`schema "${options.schema}" is not a plain lower-case identifier`);
  }
  const { default: { Pool } } = await import('pg');
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Fail fast when the server is unreachable or the pool is exhausted, rather than queue forever.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Bounds on server-side work: no statement, and no forgotten open transaction, holds locks for long.
    statement_timeout: 10_000,
    idle_in_transaction_session_timeout: 30_000,
    application_name: 'msa-poc-store',
    // A startup parameter rather than a SET per checkout: no extra round trip, and it cannot be lost
    // on a connection that was reset.
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const onIdleError = options.onIdleError ?? ((error: Error) => process.emitWarning(`PostgreSQL connection error (idle client dropped): ${error.message}`, 'DatabaseWarning'));
  // Without a listener, an idle client's error (server restart, network cut) is an unhandled 'error'
  // event and would end the process; the pool has already discarded that client.
  pool.on('error', (error) => onIdleError(error));
  const observe = instrument('pg', options.telemetry, () => ({ used: pool.totalCount - pool.idleCount, idle: pool.idleCount, pending: pool.waitingCount }));

  try {
    const found = await pool.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    if (options.schema && found.rows[0]?.schema !== options.schema) {
      throw new Error(`schema "${options.schema}" does not exist in the database at ${where}; create it first (CREATE SCHEMA ${options.schema})`);
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof Error && error.message.startsWith('schema "')) throw error;
    throw new Error(
      `cannot connect to PostgreSQL at ${where}: ${message(error)}. Check that the server is running and reachable at that host and port, that the database exists, and that the user and password in the URL (POC_DATABASE_URL) are accepted.`,
      { cause: error },
    );
  }

  const run = async <T>(target: pg.Pool | pg.PoolClient, text: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const result = (await target.query(text, params).catch(asUnavailable)) as pg.QueryResult | pg.QueryResult[];
    // Several statements in one parameterless text come back as one result each.
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return { rows: (last?.rows ?? []) as T[], rowCount: last?.rowCount ?? 0 };
  };

  let closed = false;
  return {
    kind: 'postgres',
    query: (sql, params) => observe(sql, (text) => run(pool, text, params)),
    transaction: async (fn) => {
      const client = await pool.connect().catch(asUnavailable);
      let broken: Error | undefined;
      // A checked-out client has no pool listener: a connection lost while the caller works between
      // statements (server restart, idle-in-transaction timeout) would otherwise be an uncaught error.
      // The next statement fails on its own; the client is then destroyed instead of pooled.
      const onError = (error: Error) => { broken = error; };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        try {
          const value = await fn({ query: (sql, params) => observe(sql, (text) => run(client, text, params)) });
          await client.query('COMMIT');
          return value;
        } catch (error) {
          // A failed ROLLBACK means the connection itself is unusable: destroy it instead of pooling it.
          await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError; });
          throw error;
        }
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

const connectionErrorCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/**
 * A lost or refused database connection is the database being unavailable (503, worth a retry),
 * not a bug in this service (500). Everything else passes through unchanged.
 */
function asUnavailable(error: unknown): never {
  const code = (error as { code?: string }).code ?? '';
  const lost = connectionErrorCodes.has(code) || code.startsWith('08') || /Connection terminated|timeout exceeded when trying to connect/i.test(message(error));
  if (lost) throw new ProblemError('unavailable', `The database is unreachable (${message(error)}); retry shortly.`, { cause: error });
  throw error;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.searchParams.delete('password');
    return parsed.toString();
  } catch {
    return '(an unparseable database URL)';
  }
}

function message(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(message).join('; ');
  if (error instanceof Error) return error.message || (sqlState(error) ?? error.name);
  return String(error);
}
