/** The registry of API clients: public keys, scopes and roles, nothing secret. */
import type { ApiClient } from '@msa-poc/contracts';
import { statement, type Queryable } from './database.js';

interface ClientRow {
  id: string;
  jwks: ApiClient['jwks'];
  scopes: ApiClient['scopes'];
  customer_id: string | null;
  roles: ApiClient['roles'];
  created_at: Date | string;
}

const columns = 'id, jwks, scopes, customer_id, roles, created_at';

const toClient = (row: ClientRow): ApiClient => ({
  id: row.id,
  jwks: row.jwks,
  scopes: row.scopes,
  ...(row.customer_id ? { customerId: row.customer_id } : {}),
  roles: row.roles,
  createdAt: new Date(row.created_at).toISOString(),
});

const registerClientSql = statement('registerClient', `INSERT INTO api_clients (id, jwks, scopes, customer_id, roles) VALUES ($1, $2::jsonb, $3::text[], $4, $5::text[])
ON CONFLICT (id) DO UPDATE SET jwks = EXCLUDED.jwks, scopes = EXCLUDED.scopes, customer_id = EXCLUDED.customer_id, roles = EXCLUDED.roles
RETURNING ${columns}, (xmax = 0) AS inserted`);
const getClientSql = statement('getClient', `SELECT ${columns} FROM api_clients WHERE id = $1`);
const listClientsSql = statement('listClients', `SELECT ${columns} FROM api_clients ORDER BY id`);
const removeClientSql = statement('removeClient', 'DELETE FROM api_clients WHERE id = $1');

/** Registers a client or replaces its keys, scopes and roles; `created` tells which. */
export async function registerClient(db: Queryable, client: Pick<ApiClient, 'id' | 'jwks' | 'scopes' | 'customerId'> & { roles?: ApiClient['roles'] | undefined }): Promise<{ created: boolean; client: ApiClient }> {
  const result = await db.query<ClientRow & { inserted: boolean }>(registerClientSql, [client.id, JSON.stringify(client.jwks), client.scopes, client.customerId ?? null, client.roles ?? []]);
  const row = result.rows[0] as ClientRow & { inserted: boolean };
  return { created: row.inserted, client: toClient(row) };
}

export async function getClient(db: Queryable, id: string): Promise<ApiClient | undefined> {
  const result = await db.query<ClientRow>(getClientSql, [id]);
  return result.rows[0] ? toClient(result.rows[0]) : undefined;
}

export async function listClients(db: Queryable): Promise<ApiClient[]> {
  const result = await db.query<ClientRow>(listClientsSql);
  return result.rows.map(toClient);
}

export async function removeClient(db: Queryable, id: string): Promise<boolean> {
  const result = await db.query(removeClientSql, [id]);
  return result.rowCount === 1;
}
