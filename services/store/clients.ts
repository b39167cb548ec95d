/** The registry of API clients: public keys and scopes, nothing secret. */
import type { ApiClient } from '@msa-poc/contracts';
import { statement, type Queryable } from './database.js';

interface ClientRow {
  id: string;
  jwks: ApiClient['jwks'];
  scopes: ApiClient['scopes'];
  created_at: Date | string;
}

const toClient = (row: ClientRow): ApiClient => ({
  id: row.id,
  jwks: row.jwks,
  scopes: row.scopes,
  createdAt: new Date(row.created_at).toISOString(),
});

const registerClientSql = statement('registerClient', `INSERT INTO api_clients (id, jwks, scopes) VALUES ($1, $2::jsonb, $3::text[])
ON CONFLICT (id) DO UPDATE SET jwks = EXCLUDED.jwks, scopes = EXCLUDED.scopes
RETURNING id, jwks, scopes, created_at, (xmax = 0) AS inserted`);
const getClientSql = statement('getClient', 'SELECT id, jwks, scopes, created_at FROM api_clients WHERE id = $1');
const listClientsSql = statement('listClients', 'SELECT id, jwks, scopes, created_at FROM api_clients ORDER BY id');
const removeClientSql = statement('removeClient', 'DELETE FROM api_clients WHERE id = $1');

/** Registers a client or replaces its keys and scopes; `created` tells which. */
export async function registerClient(db: Queryable, client: { id: string; jwks: ApiClient['jwks']; scopes: ApiClient['scopes'] }): Promise<{ created: boolean; client: ApiClient }> {
  const result = await db.query<ClientRow & { inserted: boolean }>(registerClientSql, [client.id, JSON.stringify(client.jwks), client.scopes]);
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
