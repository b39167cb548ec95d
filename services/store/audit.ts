/** The audit trail's storage: append, and read back in order. */
import type { AuditRecord } from '@msa-poc/contracts';
import { statement, type Queryable } from './database.js';

// One statement for the batch: the rows arrive as one JSON array.
const appendAuditSql = statement('appendAudit', `INSERT INTO audit_records (at, actor, key_thumbprint, action, outcome, target, request_id, trace_id, detail)
SELECT r.at, r.actor, r."keyThumbprint", r.action, r.outcome, r.target, r."requestId", r."traceId", r.detail
FROM jsonb_to_recordset($1::jsonb) AS r(at timestamptz, actor text, "keyThumbprint" text, action text, outcome text, target text, "requestId" text, "traceId" text, detail text)`);
const latestAuditSql = statement('listLatestAudit', 'SELECT * FROM (SELECT * FROM audit_records ORDER BY position DESC LIMIT $1) latest ORDER BY position');
const auditAfterSql = statement('listAuditAfter', 'SELECT * FROM audit_records WHERE position > $1 ORDER BY position LIMIT $2');

export async function appendAudit(db: Queryable, records: readonly AuditRecord[]): Promise<number> {
  const result = await db.query(appendAuditSql, [JSON.stringify(records)]);
  return result.rowCount;
}

interface AuditRow {
  position: string | number;
  at: Date | string;
  actor: string;
  key_thumbprint: string | null;
  action: string;
  outcome: AuditRecord['outcome'];
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
    outcome: row.outcome,
    ...(row.key_thumbprint ? { keyThumbprint: row.key_thumbprint } : {}),
    ...(row.target ? { target: row.target } : {}),
    ...(row.request_id ? { requestId: row.request_id } : {}),
    ...(row.trace_id ? { traceId: row.trace_id } : {}),
    ...(row.detail ? { detail: row.detail } : {}),
  }));
}
