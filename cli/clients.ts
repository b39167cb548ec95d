/** `poc client …`: API clients registered through the gateway's admin port (loopback only). */
import { readFileSync } from 'node:fs';
import type { ChainPage } from '@msa-poc/platform/audit-chain';
import type { PlatformConfig } from '@msa-poc/platform/config';

const adminUrl = (config: PlatformConfig) => `http://${config.adminHost}:${config.endpoints.gateway.adminPort}`;

async function admin(config: PlatformConfig, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  let response: Response;
  try {
    response = await fetch(`${adminUrl(config)}${path}`, {
      method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }), signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new Error(`the gateway's admin port ${adminUrl(config)} does not answer (${(error as Error).message}); start the system with \`npx poc up\` first`);
  }
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function registerClient(config: PlatformConfig, id: string, jwks: unknown[], scopes: string[], customerId?: string, roles: string[] = []): Promise<Record<string, unknown>> {
  const reply = await admin(config, 'PUT', `/clients/${encodeURIComponent(id)}`, { jwks, scopes, ...(customerId ? { customerId } : {}), ...(roles.length > 0 ? { roles } : {}) });
  if (reply.status >= 400) throw new Error(`client ${id} was not registered: ${String(reply.body.error ?? reply.status)}${reply.body.errors ? ` ${JSON.stringify(reply.body.errors)}` : ''}`);
  return reply.body;
}

export async function listClients(config: PlatformConfig): Promise<Record<string, unknown>[]> {
  const reply = await admin(config, 'GET', '/clients');
  return (reply.body.items as Record<string, unknown>[]) ?? [];
}

export async function removeClient(config: PlatformConfig, id: string): Promise<boolean> {
  const reply = await admin(config, 'DELETE', `/clients/${encodeURIComponent(id)}`);
  if (reply.status >= 400 && reply.status !== 404) throw new Error(`client ${id} was not removed: ${String(reply.body.error ?? reply.status)}`);
  return reply.body.removed === true;
}

/** Reads a JWK (or a JWK set) from a file, as `poc client add --jwk FILE` takes it. */
export function readJwkFile(file: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read a JWK from ${file}: ${(error as Error).message}`);
  }
  if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { keys?: unknown }).keys)) return (parsed as { keys: unknown[] }).keys;
  return [parsed];
}

export interface AuditLine {
  position: number;
  at: string;
  actor: string;
  keyThumbprint?: string;
  action: string;
  outcome: string;
  target?: string;
  requestId?: string;
  traceId?: string;
  detail?: string;
}

export async function readAudit(config: PlatformConfig, after: number | undefined, limit: number): Promise<AuditLine[]> {
  const reply = await admin(config, 'GET', `/audit?limit=${limit}${after === undefined ? '' : `&after=${after}`}`);
  if (reply.status >= 400) throw new Error(`the audit trail could not be read: ${String(reply.body.error ?? reply.status)}`);
  return (reply.body.items as AuditLine[]) ?? [];
}

/** A page of the audit trail's hash chain, as the store holds it, and the chain's head. */
export async function readAuditChain(config: PlatformConfig, after: number, limit: number): Promise<ChainPage> {
  const reply = await admin(config, 'GET', `/audit/chain?after=${after}&limit=${limit}`);
  if (reply.status >= 400) throw new Error(`the audit chain could not be read: ${String(reply.body.error ?? reply.body.detail ?? reply.status)}`);
  return reply.body as unknown as ChainPage;
}
