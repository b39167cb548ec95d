/** OpenAPI 3.1 from a contract: the document each service serves at /openapi.json. */
import type { TSchema } from '@sinclair/typebox';
import type { RouteSpec, ServiceContract } from './route.js';
import { problemMediaType } from './problems.js';

type Json = Record<string, unknown>;

/** TypeBox schemas are JSON Schema plus symbol-keyed metadata; a JSON round trip keeps only the former. */
const plain = (schema: TSchema): Json => JSON.parse(JSON.stringify(schema)) as Json;

const parameters = (schema: TSchema | undefined, where: 'path' | 'query' | 'header'): Json[] => {
  if (!schema) return [];
  const s = plain(schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, property]) => ({
    name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: property,
  }));
};

function operation(name: string, r: RouteSpec): Json {
  const responses: Json = {};
  for (const [status, schema] of Object.entries(r.responses)) {
    const mediaType = Number(status) >= 400 ? problemMediaType : 'application/json';
    responses[status] = { description: Number(status) >= 400 ? 'Problem' : 'Success', content: { [mediaType]: { schema: plain(schema) } } };
  }
  return {
    operationId: name,
    summary: r.summary,
    parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query'), ...parameters(r.headers, 'header')],
    ...(r.body ? { requestBody: { required: true, content: { [r.bodyMediaType ?? 'application/json']: { schema: plain(r.body) } } } } : {}),
    responses,
    ...(r.scope ? { security: [{ dpop: [r.scope] }] } : {}),
    'x-callers': r.callers,
    'x-idempotent': r.idempotent,
    // What a support token is served of each response: fields the view does not name are not served.
    ...(r.support ? { 'x-support-view': r.support } : {}),
  };
}

export function openapi(c: ServiceContract): Json {
  const paths: Record<string, Json> = {};
  for (const [name, r] of Object.entries(c.routes)) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] = { ...paths[path], [r.method.toLowerCase()]: operation(name, r) };
  }
  return {
    openapi: '3.1.0',
    info: { title: `msa-poc ${c.service}`, version: c.version },
    paths,
    components: {
      securitySchemes: { dpop: { type: 'http', scheme: 'DPoP', description: 'RFC 9449 DPoP-bound access token' } },
    },
  };
}
