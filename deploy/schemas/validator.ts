/**
 * Ajv set up once for the vendored and derived schemas: draft-07, every error reported, unknown
 * keywords refused. `strictTypes` is off because it judges how a schema is written (a
 * `properties` beside a `oneOf` without `type`), which the Compose schema does; it loosens
 * nothing in what the documents may contain.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export function createValidator(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  // The Compose schema names draft-07 by its https address, which Ajv knows only as http.
  const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as Record<string, unknown>;
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  return ajv;
}

export const readJson = (url: URL): Record<string, unknown> => JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;

/** Ajv's errors as lines a reader can act on: where, what. */
export const describeErrors = (errors: readonly ErrorObject[] | null | undefined): string =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`).join('\n');

export type { ValidateFunction };
