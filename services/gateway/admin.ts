/**
 * Client registration on the gateway's admin port (loopback only): the operator's door, used by
 * `poc client add|list|remove`. A key is accepted only if it is a public EC P-256 or Ed25519 key.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiClientRegistration, type storeContract } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/service';
import { validate } from '@msa-poc/platform/validation';
import { JwkError, parsePublicJwk } from './auth/jwk.js';
import type { AuditEntry, AuditTrail } from './audit.js';
import { isClientId, type StoreClientDirectory } from './clients.js';

export function clientAdmin(app: FastifyInstance, store: Client<typeof storeContract>, directory: StoreClientDirectory, audit: AuditTrail): void {
  /** Stores the operator's change on the record before it is made; when it cannot be, answers 503 and the change is not made. */
  const auditedBeforehand = async (reply: FastifyReply, entry: AuditEntry): Promise<boolean> => {
    try {
      await audit.recordDurably(entry);
      return true;
    } catch {
      await reply.code(503).header('retry-after', '1').send({ error: `${entry.action} of ${entry.target} was not performed: it could not be audited (the audit trail is unavailable). Nothing was changed; retry shortly.` });
      return false;
    }
  };

  app.get('/clients', async () => (await store.listClients({})).body);

  app.get<{ Querystring: { after?: string; limit?: string } }>('/audit', async (request, reply) => {
    await audit.flush();
    const after = request.query.after === undefined ? undefined : Number(request.query.after);
    const limit = Number(request.query.limit ?? 50);
    if ((after !== undefined && !(Number.isInteger(after) && after >= 0)) || !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) {
      return reply.code(400).send({ error: 'after must be a position (a whole number) and limit a whole number from 1 to 1000' });
    }
    return (await store.listAudit({ query: { ...(after === undefined ? {} : { after }), limit } })).body;
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/audit/chain', async (request, reply) => {
    await audit.flush();
    const after = Number(request.query.after ?? 0);
    const limit = Number(request.query.limit ?? 1000);
    if (!(Number.isInteger(after) && after >= 0) || !(Number.isInteger(limit) && limit >= 1 && limit <= 5000)) {
      return reply.code(400).send({ error: 'after must be a position (a whole number) and limit a whole number from 1 to 5000' });
    }
    return (await store.readAuditChain({ query: { after, limit } })).body;
  });

  app.put<{ Params: { id: string } }>('/clients/:id', async (request, reply) => {
    const { id } = request.params;
    if (!isClientId(id)) return reply.code(400).send({ error: `client id "${id}" must be 1-64 letters, digits, dots, dashes or underscores` });
    // Private members are checked before the schema, so that the error names the real mistake.
    const body = request.body as { jwks?: unknown[] } | undefined;
    for (const [i, jwk] of (Array.isArray(body?.jwks) ? body.jwks : []).entries()) {
      try {
        parsePublicJwk(jwk);
      } catch (error) {
        if (error instanceof JwkError) return reply.code(400).send({ error: `key ${i + 1}: ${error.message}` });
        throw error;
      }
    }
    const registration = validate<{ jwks: never[]; scopes: ('orders:read' | 'orders:write')[]; customerId?: string; roles?: ('support' | 'support-lead')[] }>(ApiClientRegistration, request.body);
    if (!registration.ok) return reply.code(400).send({ error: 'invalid registration', errors: registration.errors });
    const target = `client ${id}`;
    if (!(await auditedBeforehand(reply, { actor: 'operator', action: 'clients.register', outcome: 'allowed', target }))) return reply;
    const result = await store.registerClient({ params: { id }, body: registration.value });
    directory.forget(id);
    audit.record({ actor: 'operator', action: 'clients.register', outcome: 'succeeded', target, detail: `scopes ${registration.value.scopes.join(' ')}${registration.value.roles?.length ? `; roles ${registration.value.roles.join(' ')}` : ''}${registration.value.customerId ? `; acts for customer ${registration.value.customerId}` : ''}` });
    return reply.code(result.status).send(result.body);
  });

  app.delete<{ Params: { id: string } }>('/clients/:id', async (request, reply) => {
    if (!isClientId(request.params.id)) return reply.code(400).send({ error: 'malformed client id' });
    if (!(await auditedBeforehand(reply, { actor: 'operator', action: 'clients.remove', outcome: 'allowed', target: `client ${request.params.id}` }))) return reply;
    const result = await store.removeClient({ params: { id: request.params.id } });
    directory.forget(request.params.id);
    audit.record({ actor: 'operator', action: 'clients.remove', outcome: result.body.removed ? 'succeeded' : 'failed', target: `client ${request.params.id}` });
    return reply.code(result.body.removed ? 200 : 404).send(result.body);
  });
}
