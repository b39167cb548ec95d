/**
 * Support access: a support engineer's request to read one customer's data, the lead's decision,
 * the grant it becomes, and the read under it. The rules live here, next to the data, whatever the
 * edge has checked: only the `support` role requests, only a `support-lead` who is not the requester
 * decides, the requester or a lead revokes, and a grant gives access only while approved and unexpired.
 */
import { randomUUID } from 'node:crypto';
import { maxBreakGlassSeconds, type AuditRecord, type BreakGlassRequest, type BreakGlassReview, type ServedSupportResponse, type SupportAccessRequest, type SupportGrant } from '@msa-poc/contracts';
import { appendAudit, appendToChain } from './audit.js';
import { statement, type Database, type Queryable } from './database.js';

type Role = 'support' | 'support-lead';

interface GrantRow {
  id: string;
  requester: string;
  customer_id: string;
  ticket_id: string;
  reason: string;
  actions: string[];
  duration_seconds: number;
  status: 'pending' | 'approved' | 'rejected' | 'revoked';
  requested_at: Date | string;
  decided_by: string | null;
  decided_at: Date | string | null;
  expires_at: Date | string | null;
  revoked_by: string | null;
  revoked_at: Date | string | null;
  break_glass: boolean;
  review_status: 'unreviewed' | 'reviewed' | null;
  review_outcome: 'justified' | 'unjustified' | null;
  review_note: string | null;
  reviewed_by: string | null;
  reviewed_at: Date | string | null;
}

const iso = (value: Date | string): string => new Date(value).toISOString();

/** The grant as it stands at `now`: an approved grant past its expiry is `expired`. */
function toGrant(row: GrantRow, now: Date): SupportGrant {
  const expired = row.status === 'approved' && row.expires_at !== null && new Date(row.expires_at) <= now;
  return {
    id: row.id,
    requester: row.requester,
    customerId: row.customer_id,
    ticketId: row.ticket_id,
    reason: row.reason,
    actions: row.actions as SupportGrant['actions'],
    durationSeconds: row.duration_seconds,
    status: expired ? 'expired' : row.status,
    requestedAt: iso(row.requested_at),
    ...(row.decided_by ? { decidedBy: row.decided_by } : {}),
    ...(row.decided_at ? { decidedAt: iso(row.decided_at) } : {}),
    ...(row.expires_at ? { expiresAt: iso(row.expires_at) } : {}),
    ...(row.revoked_by ? { revokedBy: row.revoked_by } : {}),
    ...(row.revoked_at ? { revokedAt: iso(row.revoked_at) } : {}),
    breakGlass: row.break_glass,
    ...(row.review_status ? { reviewStatus: row.review_status } : {}),
    ...(row.review_outcome ? { reviewOutcome: row.review_outcome } : {}),
    ...(row.review_note ? { reviewNote: row.review_note } : {}),
    ...(row.reviewed_by ? { reviewedBy: row.reviewed_by } : {}),
    ...(row.reviewed_at ? { reviewedAt: iso(row.reviewed_at) } : {}),
  };
}

const rolesSql = statement('readClientRoles', 'SELECT roles FROM api_clients WHERE id = $1');

async function rolesOf(db: Queryable, clientId: string): Promise<Role[]> {
  const result = await db.query<{ roles: Role[] }>(rolesSql, [clientId]);
  return result.rows[0]?.roles ?? [];
}

const insertGrantSql = statement('requestSupportAccess', `INSERT INTO support_grants (id, requester, customer_id, ticket_id, reason, actions, duration_seconds, requested_at)
VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8) RETURNING *`);

export type RequestOutcome = { outcome: 'requested'; grant: SupportGrant } | { outcome: 'not-support' };

export async function requestAccess(db: Database, request: SupportAccessRequest & { requester: string; now: Date }): Promise<RequestOutcome> {
  return db.transaction(async (tx) => {
    if (!(await rolesOf(tx, request.requester)).includes('support')) return { outcome: 'not-support' };
    const result = await tx.query<GrantRow>(insertGrantSql, [
      randomUUID(), request.requester, request.customerId, request.ticketId, request.reason, request.actions, request.durationSeconds, request.now,
    ]);
    return { outcome: 'requested', grant: toGrant(result.rows[0] as GrantRow, request.now) };
  });
}

const lockGrantSql = statement('lockSupportGrant', 'SELECT * FROM support_grants WHERE id = $1 FOR UPDATE');
const decideSql = statement('decideSupportAccess', `UPDATE support_grants
SET status = $2, decided_by = $3, decided_at = $4, expires_at = CASE WHEN $2 = 'approved' THEN $4::timestamptz + make_interval(secs => duration_seconds) END
WHERE id = $1 RETURNING *`);

export type DecisionOutcome =
  | { outcome: 'decided'; grant: SupportGrant }
  | { outcome: 'not-found' }
  | { outcome: 'own-request' }
  | { outcome: 'not-lead' }
  | { outcome: 'not-pending'; grant: SupportGrant };

/** Approves or rejects a pending request; approval starts the grant's time. */
export async function decide(db: Database, decision: { id: string; by: string; decision: 'approve' | 'reject'; now: Date }): Promise<DecisionOutcome> {
  return db.transaction(async (tx) => {
    const row = (await tx.query<GrantRow>(lockGrantSql, [decision.id])).rows[0];
    if (!row) return { outcome: 'not-found' };
    // Checked before the role: a lead who asked cannot approve their own request either.
    if (row.requester === decision.by) return { outcome: 'own-request' };
    if (!(await rolesOf(tx, decision.by)).includes('support-lead')) return { outcome: 'not-lead' };
    if (row.status !== 'pending') return { outcome: 'not-pending', grant: toGrant(row, decision.now) };
    const status = decision.decision === 'approve' ? 'approved' : 'rejected';
    const updated = await tx.query<GrantRow>(decideSql, [decision.id, status, decision.by, decision.now]);
    return { outcome: 'decided', grant: toGrant(updated.rows[0] as GrantRow, decision.now) };
  });
}

const revokeSql = statement('revokeSupportAccess', `UPDATE support_grants SET status = 'revoked', revoked_by = $2, revoked_at = $3 WHERE id = $1 RETURNING *`);

export type RevocationOutcome =
  | { outcome: 'revoked'; grant: SupportGrant }
  | { outcome: 'not-found' }
  | { outcome: 'not-allowed' }
  | { outcome: 'already-ended'; grant: SupportGrant };

/** Ends a pending or live grant at once; the requester or any lead may. */
export async function revoke(db: Database, revocation: { id: string; by: string; now: Date }): Promise<RevocationOutcome> {
  return db.transaction(async (tx) => {
    const row = (await tx.query<GrantRow>(lockGrantSql, [revocation.id])).rows[0];
    if (!row) return { outcome: 'not-found' };
    if (row.requester !== revocation.by && !(await rolesOf(tx, revocation.by)).includes('support-lead')) return { outcome: 'not-allowed' };
    const current = toGrant(row, revocation.now);
    if (current.status !== 'pending' && current.status !== 'approved') return { outcome: 'already-ended', grant: current };
    const updated = await tx.query<GrantRow>(revokeSql, [revocation.id, revocation.by, revocation.now]);
    return { outcome: 'revoked', grant: toGrant(updated.rows[0] as GrantRow, revocation.now) };
  });
}

/** Who acted, for the audit record written in the same transaction as the change. */
export type AuditContext = Pick<AuditRecord, 'requestId' | 'traceId' | 'keyThumbprint'>;

const auditIn = (tx: Queryable, at: Date, context: AuditContext, record: Pick<AuditRecord, 'actor' | 'action' | 'target' | 'detail'>) =>
  appendAudit(tx, [{
    at: at.toISOString(), ...record, outcome: 'succeeded',
    ...(context.keyThumbprint ? { keyThumbprint: context.keyThumbprint } : {}),
    ...(context.requestId ? { requestId: context.requestId } : {}),
    ...(context.traceId ? { traceId: context.traceId } : {}),
  }]);

const insertBreakGlassSql = statement('openBreakGlass', `INSERT INTO support_grants
  (id, requester, customer_id, ticket_id, reason, actions, duration_seconds, requested_at, status, decided_at, expires_at, break_glass, review_status)
VALUES ($1, $2, $3, $4, $5, ARRAY['orders:read'], $6::integer, $7::timestamptz, 'approved', $7::timestamptz, $7::timestamptz + make_interval(secs => $6::integer), true, 'unreviewed') RETURNING *`);

export type BreakGlassOutcome = { outcome: 'opened'; grant: SupportGrant } | { outcome: 'not-support' } | { outcome: 'too-long' };

/**
 * Opens a grant at once, without approval, for at most 15 minutes. The grant and its audit record
 * commit together: there is no break-glass access that the audit trail does not show.
 */
export async function breakGlass(db: Database, request: BreakGlassRequest & { requester: string; now: Date; audit: AuditContext }): Promise<BreakGlassOutcome> {
  if (request.durationSeconds > maxBreakGlassSeconds) return { outcome: 'too-long' };
  return db.transaction(async (tx) => {
    if (!(await rolesOf(tx, request.requester)).includes('support')) return { outcome: 'not-support' };
    const row = (await tx.query<GrantRow>(insertBreakGlassSql, [
      randomUUID(), request.requester, request.customerId, request.incidentId, request.reason, request.durationSeconds, request.now,
    ])).rows[0] as GrantRow;
    await auditIn(tx, request.now, request.audit, {
      actor: request.requester, action: 'support.break-glass', target: `grant ${row.id}`,
      detail: `break-glass for customer ${row.customer_id} (incident ${row.ticket_id}, ${row.duration_seconds} s, unreviewed): ${row.reason}`.slice(0, 500),
    });
    return { outcome: 'opened', grant: toGrant(row, request.now) };
  });
}

const reviewSql = statement('reviewBreakGlass', `UPDATE support_grants
SET review_status = 'reviewed', review_outcome = $2, review_note = $3, reviewed_by = $4, reviewed_at = $5 WHERE id = $1 RETURNING *`);

export type ReviewOutcome =
  | { outcome: 'reviewed'; grant: SupportGrant }
  | { outcome: 'not-found' }
  | { outcome: 'own-grant' }
  | { outcome: 'not-lead' }
  | { outcome: 'already-reviewed'; grant: SupportGrant };

/** A lead other than the requester reviews a break-glass grant, once; live or ended, it does not change its access. */
export async function reviewBreakGlass(db: Database, review: BreakGlassReview & { id: string; by: string; now: Date; audit: AuditContext }): Promise<ReviewOutcome> {
  return db.transaction(async (tx) => {
    const row = (await tx.query<GrantRow>(lockGrantSql, [review.id])).rows[0];
    if (!row?.break_glass) return { outcome: 'not-found' };
    if (row.requester === review.by) return { outcome: 'own-grant' };
    if (!(await rolesOf(tx, review.by)).includes('support-lead')) return { outcome: 'not-lead' };
    if (row.review_status === 'reviewed') return { outcome: 'already-reviewed', grant: toGrant(row, review.now) };
    const updated = (await tx.query<GrantRow>(reviewSql, [review.id, review.outcome, review.note, review.by, review.now])).rows[0] as GrantRow;
    await auditIn(tx, review.now, review.audit, {
      actor: review.by, action: 'support.break-glass-review', target: `grant ${review.id}`,
      detail: `break-glass by ${row.requester} for customer ${row.customer_id} (incident ${row.ticket_id}) reviewed ${review.outcome}: ${review.note}`.slice(0, 500),
    });
    return { outcome: 'reviewed', grant: toGrant(updated, review.now) };
  });
}

const getGrantSql = statement('getSupportGrant', 'SELECT * FROM support_grants WHERE id = $1');

export async function getGrant(db: Queryable, id: string, now: Date): Promise<SupportGrant | undefined> {
  const row = (await db.query<GrantRow>(getGrantSql, [id])).rows[0];
  return row ? toGrant(row, now) : undefined;
}

const listAllGrantsSql = statement('listSupportGrants', 'SELECT * FROM support_grants ORDER BY requested_at DESC, id DESC LIMIT $1');
const listOwnGrantsSql = statement('listOwnSupportGrants', 'SELECT * FROM support_grants WHERE requester = $2 ORDER BY requested_at DESC, id DESC LIMIT $1');

/** Every grant, for the console, which reads on behalf of whoever is looking at it on this machine. */
export async function listAllGrants(db: Queryable, query: { limit: number; now: Date }): Promise<SupportGrant[]> {
  return (await db.query<GrantRow>(listAllGrantsSql, [query.limit])).rows.map((row) => toGrant(row, query.now));
}

/** What `by` may see: a lead every request, an engineer their own, anyone else nothing. */
export async function listGrants(db: Queryable, query: { by: string; limit: number; now: Date }): Promise<SupportGrant[] | 'forbidden'> {
  const roles = await rolesOf(db, query.by);
  if (roles.length === 0) return 'forbidden';
  const result = roles.includes('support-lead')
    ? await db.query<GrantRow>(listAllGrantsSql, [query.limit])
    : await db.query<GrantRow>(listOwnGrantsSql, [query.limit, query.by]);
  return result.rows.map((row) => toGrant(row, query.now));
}

/**
 * One statement scopes the transaction to a live grant's customer: it checks the grant, sets the
 * customer for the row-level security policies and switches to the support reader role, all
 * transaction-local (set_config(..., true) is SET LOCAL), so nothing outlives the transaction on a
 * pooled connection. No row means no live grant, and nothing was set.
 */
const scopeToGrantSql = statement('scopeToSupportGrant', `SELECT g.customer_id,
  set_config('msa_poc.customer_id', g.customer_id, true) AS customer_scope,
  set_config('role', 'msa_poc_support_reader', true) AS reader_role
FROM support_grants g WHERE g.id = $1 AND g.status = 'approved' AND g.expires_at > $2`);

export type ScopedRead<T> = { outcome: 'read'; customerId: string; value: T } | { outcome: 'no-live-grant' };

/**
 * Runs `read` inside one transaction that sees only the grant's customer's orders, as a role
 * without superuser rights, so that even a query that forgets to filter by customer reads no one else's rows.
 */
export async function readUnderGrant<T>(db: Database, grant: { id: string; now: Date }, read: (tx: Queryable, customerId: string) => Promise<T>): Promise<ScopedRead<T>> {
  return db.transaction(async (tx) => {
    const scoped = (await tx.query<{ customer_id: string }>(scopeToGrantSql, [grant.id, grant.now])).rows[0];
    if (!scoped) return { outcome: 'no-live-grant' };
    return { outcome: 'read', customerId: scoped.customer_id, value: await read(tx, scoped.customer_id) };
  });
}

const insertResponseSql = statement('recordSupportResponse', `INSERT INTO support_responses (audit_position, grant_id, served_at, route, status, body) VALUES ($1, $2, $3, $4, $5, $6)`);

/** The audit record of a response served under a grant and the body as served: both stored, or neither. */
export async function recordServedResponse(db: Database, served: { record: AuditRecord; grantId: string; route: string; status: number; body: string }): Promise<number> {
  return db.transaction(async (tx) => {
    const position = await appendToChain(tx, [served.record]);
    await tx.query(insertResponseSql, [position, served.grantId, served.record.at, served.route, served.status, served.body]);
    return position;
  });
}

const servedResponsesSql = statement('listSupportResponses', 'SELECT audit_position, served_at, route, status, body FROM support_responses WHERE grant_id = $1 AND audit_position > $2 ORDER BY audit_position LIMIT $3');

export type GrantLog = { outcome: 'log'; grant: SupportGrant; items: ServedSupportResponse[]; nextAfter?: number } | { outcome: 'not-found' } | { outcome: 'not-allowed' };

/** What was served under a grant, for its requester or a support lead. */
export async function grantLog(db: Queryable, query: { id: string; by: string; after: number; limit: number; now: Date }): Promise<GrantLog> {
  const grant = await getGrant(db, query.id, query.now);
  if (!grant) return { outcome: 'not-found' };
  if (grant.requester !== query.by && !(await rolesOf(db, query.by)).includes('support-lead')) return { outcome: 'not-allowed' };
  const rows = await db.query<{ audit_position: string | number; served_at: Date | string; route: string; status: number; body: string }>(servedResponsesSql, [query.id, query.after, query.limit + 1]);
  const page = rows.rows.slice(0, query.limit);
  return {
    outcome: 'log', grant,
    ...(rows.rows.length > query.limit ? { nextAfter: Number(page[page.length - 1]?.audit_position) } : {}),
    items: page.map((row) => ({ auditPosition: Number(row.audit_position), servedAt: iso(row.served_at), route: row.route, status: row.status, body: JSON.parse(row.body) as unknown })),
  };
}
