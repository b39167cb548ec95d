/**
 * Client registration on the gateway's admin port (loopback only): the operator's door, used by
 * `poc client add|list|remove`. A key is accepted only if it is a public EC P-256 or Ed25519 key.
 */
import type { FastifyInstance } from 'fastify';
import { ApiClientRegistration, type storeContract } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/service';
import { validate } from '@msa-poc/platform/validation';
import { JwkError, parsePublicJwk } from './auth/jwk.js';
import type { AuditTrail } from './audit.js';
import { isClientId, type StoreClientDirectory } from './clients.js';

export function clientAdmin(app: FastifyInstance, store: Client<typeof storeContract>, directory: StoreClientDirectory, audit: AuditTrail): void {
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
    const result = await store.registerClient({ params: { id }, body: registration.value });
    directory.forget(id);
    audit.record({ actor: 'operator', action: 'clients.register', outcome: 'succeeded', target: `client ${id}`, detail: `scopes ${registration.value.scopes.join(' ')}${registration.value.roles?.length ? `; roles ${registration.value.roles.join(' ')}` : ''}${registration.value.customerId ? `; acts for customer ${registration.value.customerId}` : ''}` });
    return reply.code(result.status).send(result.body);
  });

  app.delete<{ Params: { id: string } }>('/clients/:id', async (request, reply) => {
    if (!isClientId(request.params.id)) return reply.code(400).send({ error: 'malformed client id' });
    const result = await store.removeClient({ params: { id: request.params.id } });
    directory.forget(request.params.id);
    audit.record({ actor: 'operator', action: 'clients.remove', outcome: result.body.removed ? 'succeeded' : 'failed', target: `client ${request.params.id}` });
    return reply.code(result.body.removed ? 200 : 404).send(result.body);
  });
}
