/**
 * One database interface over two engines: PGlite (PostgreSQL compiled to WASM, running inside the
 * store process, files on disk) for the embedded profile, and a node-postgres pool for production.
 * Everything above this file is written once against `Database` and runs the same SQL on both.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import pg from 'pg';
import { ProblemError } from '@msa-poc/platform/errors';

export interface QueryResult<T> {
  rows: T[];
  /** Rows returned, inserted, updated or deleted by the (last) statement. */
  rowCount: number;
}

export interface Queryable {
  /**
   * Runs one statement with `$1…$n` parameters, in one round trip. Without parameters the text may
   * hold several statements (the simple query protocol, as migrations need); the result is the last one's.
   */
  query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` inside BEGIN … COMMIT on one connection; any throw rolls back and is rethrown. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | { profile: 'embedded'; dataDir: string }
  | {
      profile: 'production';
      url: string;
      poolSize?: number;
      /** Every query runs with this schema first on its search_path; it must exist. */
      schema?: string;
      /** Told about errors of idle pooled connections (the pool has already dropped them); default: a process warning. */
      onIdleError?: (error: Error) => void;
    };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.profile === 'embedded' ? openPglite(options.dataDir) : openPostgres(options);
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

async function openPglite(dataDir: string): Promise<Database> {
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

  let closed = false;
  return {
    kind: 'pglite',
    query: (text, params) => run(pglite, text, params),
    transaction: (fn) => pglite.transaction((tx) => fn({ query: (text, params) => run(tx, text, params) })),
    ping: async () => {
      await pglite.query('SELECT 1');
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await pglite.close();
    },
  };
}

function pgliteRowCount(result: { rows: unknown[]; rowCount?: number; affectedRows?: number }): number {
  return result.rowCount ?? result.affectedRows ?? result.rows.length;
}

// ---------------------------------------------------------------------------------------------------
// Production: PostgreSQL through a node-postgres pool

const schemaName = /^[a-z_][a-z0-9_]{0,62}$/;

async function openPostgres(options: Extract<DatabaseOptions, { profile: 'production' }>): Promise<Database> {
  const where = redactUrl(options.url);
  if (options.schema !== undefined && !schemaName.test(options.schema)) {
    throw new Error(`schema "${options.schema}" is not a plain lower-case identifier`);
  }
  const pool = new pg.Pool({
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
    query: (text, params) => run(pool, text, params),
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
          const value = await fn({ query: (text, params) => run(client, text, params) });
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
