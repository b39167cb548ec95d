/**
 * The audit trail's storage: append to the hash chain, and read back in order. Appends are
 * serialised by a row lock on the chain's head, held to the end of the appending transaction, so
 * concurrent appends (from any number of store replicas) line up one after another.
 */
import type { AuditRecord } from '@msa-poc/contracts';
import { auditRecordHash, type ChainedAuditRecord } from '@msa-poc/platform/audit-chain';
import { statement, type Database, type Queryable } from './database.js';

const lockChainHeadSql = statement('lockAuditChainHead', `SELECT position, hash FROM audit_chain_head WHERE chain = 'audit' FOR UPDATE`);
// One statement for the batch: the rows arrive as one JSON array, and the head moves to the last of them.
const appendAuditSql = statement('appendAudit', `WITH appended AS (
  INSERT INTO audit_records (position, at, actor, key_thumbprint, action, outcome, target, request_id, trace_id, detail, previous_hash, hash)
  SELECT r.position, r.at, r.actor, r."keyThumbprint", r.action, r.outcome, r.target, r."requestId", r."traceId", r.detail, r."previousHash", r.hash
  FROM jsonb_to_recordset($1::jsonb) AS r(position bigint, at timestamptz, actor text, "keyThumbprint" text, action text, outcome text, target text, "requestId" text, "traceId" text, detail text, "previousHash" text, hash text)
  RETURNING 1
)
UPDATE audit_chain_head SET position = $2, hash = $3 WHERE chain = 'audit'`);
const latestAuditSql = statement('listLatestAudit', 'SELECT * FROM (SELECT * FROM audit_records ORDER BY position DESC LIMIT $1) latest ORDER BY position');
const auditAfterSql = statement('listAuditAfter', 'SELECT * FROM audit_records WHERE position > $1 ORDER BY position LIMIT $2');
// `at` in the encoding's own format, as the migration that chained the first records wrote it.
const chainAfterSql = statement('readAuditChain', `SELECT position, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, key_thumbprint, action, outcome,
  target, request_id, trace_id, detail, previous_hash, hash FROM audit_records WHERE position > $1 ORDER BY position LIMIT $2`);
const snapshotSql = statement('snapshotAuditChain', 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
const chainHeadSql = statement('readAuditChainHead', `SELECT position, hash FROM audit_chain_head WHERE chain = 'audit'`);

/**
 * Appends to the chain. Given the database, in a transaction of its own; given a transaction, inside
 * it (so that a record exists if and only if what it records does), and the chain's head then stays
 * locked until that transaction ends.
 */
export async function appendAudit(db: Database | Queryable, records: readonly AuditRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  await ('transaction' in db ? db.transaction((tx) => appendToChain(tx, records)) : appendToChain(db, records));
  return records.length;
}

/** Appends inside the caller's transaction; resolves to the position of the last record appended. */
export async function appendToChain(tx: Queryable, records: readonly AuditRecord[]): Promise<number> {
  const head = (await tx.query<{ position: string | number; hash: string }>(lockChainHeadSql, [])).rows[0];
  if (!head) throw new Error('the audit chain has no head row; the store database was not migrated (migration 0008)');
  let previous = { position: Number(head.position), hash: head.hash };
  const chained = records.map((record): ChainedAuditRecord => {
    const fields = {
      position: previous.position + 1,
      // Milliseconds in UTC: what is stored is exactly what was hashed.
      at: new Date(record.at).toISOString(),
      actor: record.actor,
      keyThumbprint: record.keyThumbprint ?? null,
      action: record.action,
      outcome: record.outcome,
      target: record.target ?? null,
      requestId: record.requestId ?? null,
      traceId: record.traceId ?? null,
      detail: record.detail ?? null,
      previousHash: previous.hash,
    };
    const link = { ...fields, hash: auditRecordHash(fields) };
    previous = link;
    return link;
  });
  await tx.query(appendAuditSql, [JSON.stringify(chained), previous.position, previous.hash]);
  return previous.position;
}

interface AuditRow {
  position: string | number;
  at: Date | string;
  actor: string;
  key_thumbprint: string | null;
  action: string;
  outcome: string;
  target: string | null;
  request_id: string | null;
  trace_id: string | null;
  detail: string | null;
}

/** Records after `after` (oldest first), or the latest `limit` when no position is given. */
export async function listAudit(db: Queryable, query: { after?: number | undefined; limit: number }): Promise<(AuditRecord & { position: number })[]> {
  const result = query.after === undefined
    ? await db.query<AuditRow>(latestAuditSql, [query.limit])
    : await db.query<AuditRow>(auditAfterSql, [query.after, query.limit]);
  return result.rows.map((row) => ({
    position: Number(row.position),
    at: new Date(row.at).toISOString(),
    actor: row.actor,
    action: row.action,
    outcome: row.outcome as AuditRecord['outcome'],
    ...(row.key_thumbprint ? { keyThumbprint: row.key_thumbprint } : {}),
    ...(row.target ? { target: row.target } : {}),
    ...(row.request_id ? { requestId: row.request_id } : {}),
    ...(row.trace_id ? { traceId: row.trace_id } : {}),
    ...(row.detail ? { detail: row.detail } : {}),
  }));
}

/** The chain as stored (absent fields as null), after `after`, oldest first, and its head. */
export async function readAuditChain(db: Database, query: { after: number; limit: number }): Promise<{ items: ChainedAuditRecord[]; head: { position: number; hash: string } }> {
  // One snapshot for the page and the head, so that an append between two reads cannot look like a truncation.
  return db.transaction(async (tx) => {
    await tx.query(snapshotSql, []);
    const rows = await tx.query<AuditRow & { at: string; previous_hash: string; hash: string }>(chainAfterSql, [query.after, query.limit]);
    const head = (await tx.query<{ position: string | number; hash: string }>(chainHeadSql, [])).rows[0];
    if (!head) throw new Error('the audit chain has no head row; the store database was not migrated (migration 0008)');
    return {
      items: rows.rows.map((row) => ({
        position: Number(row.position), at: row.at, actor: row.actor, keyThumbprint: row.key_thumbprint, action: row.action, outcome: row.outcome,
        target: row.target, requestId: row.request_id, traceId: row.trace_id, detail: row.detail, previousHash: row.previous_hash, hash: row.hash,
      })),
      head: { position: Number(head.position), hash: head.hash },
    };
  });
}
