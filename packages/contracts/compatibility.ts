/**
 * Breaking-change detection between two versions of the contracts. A change breaks a consumer when
 * the new version refuses input the old one accepted, or produces output the old one's strict
 * readers would refuse. Requests are inputs; responses and events are outputs.
 */
import type { TSchema } from '@sinclair/typebox';
import { openapi } from './openapi.js';
import type { ServiceContract } from './route.js';
import type { EventSpec } from './route.js';

type Schema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  additionalProperties?: boolean | Schema;
};

export interface Snapshot {
  readonly services: Record<string, Record<string, unknown>>;
  readonly events: Record<string, { type: string; version: string; data: unknown }>;
}

export function snapshotOf(contracts: Record<string, ServiceContract>, events: Record<string, EventSpec>): Snapshot {
  const plain = (schema: TSchema) => JSON.parse(JSON.stringify(schema)) as unknown;
  return {
    services: Object.fromEntries(Object.entries(contracts).map(([name, c]) => [name, openapi(c)])),
    events: Object.fromEntries(Object.entries(events).map(([key, e]) => [key, { type: e.type, version: e.version, data: plain(e.data) }])),
  };
}

type Direction = 'input' | 'output';

/** The literal values a schema allows, when it is a finite set. */
function literals(s: Schema): unknown[] | undefined {
  if ('const' in s) return [s.const];
  if (s.enum) return s.enum;
  if (s.anyOf && s.anyOf.every((a) => 'const' in a || a.enum)) return s.anyOf.flatMap((a) => literals(a) ?? []);
  return undefined;
}

const typesOf = (s: Schema): string[] => (s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type]);

const bounds: [keyof Schema, 'max' | 'min'][] = [
  ['maxLength', 'max'], ['maximum', 'max'], ['maxItems', 'max'], ['minLength', 'min'], ['minimum', 'min'], ['minItems', 'min'],
];

/**
 * Lists how `next` breaks consumers of `prev`. For inputs, `next` must accept all `prev` accepted;
 * for outputs, `prev`'s readers must accept all `next` can produce.
 */
export function schemaBreaks(prev: Schema, next: Schema, path: string, direction: Direction, out: string[] = []): string[] {
  // Accepting side: for inputs the new schema accepts, for outputs the old schema reads.
  const [narrow, wide] = direction === 'input' ? [next, prev] : [prev, next];
  const narrowTypes = typesOf(narrow);
  const wideTypes = typesOf(wide);
  const lost = wideTypes.filter((t) => !narrowTypes.includes(t) && !(t === 'integer' && narrowTypes.includes('number')));
  if (narrowTypes.length > 0 && lost.length > 0) out.push(`${path}: type ${wideTypes.join('|')} became ${narrowTypes.join('|')} for ${direction === 'input' ? 'requests' : 'readers'}`);

  const wideValues = literals(wide);
  const narrowValues = literals(narrow);
  if (narrowValues && (!wideValues || wideValues.some((v) => !narrowValues.some((n) => JSON.stringify(n) === JSON.stringify(v))))) {
    const missing = wideValues ? wideValues.filter((v) => !narrowValues.some((n) => JSON.stringify(n) === JSON.stringify(v))) : ['any value'];
    out.push(`${path}: ${direction === 'input' ? 'no longer accepts' : 'may now produce'} ${missing.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  for (const [key, kind] of bounds) {
    const n = narrow[key] as number | undefined;
    const w = wide[key] as number | undefined;
    if (n === undefined) continue;
    if (w === undefined || (kind === 'max' ? n < w : n > w)) out.push(`${path}: ${String(key)} ${w ?? 'unbounded'} became ${n}`);
  }
  if (narrow.pattern !== undefined && narrow.pattern !== wide.pattern) out.push(`${path}: pattern changed to ${String(narrow.pattern)}`);
  if (narrow.format !== undefined && narrow.format !== wide.format) out.push(`${path}: format ${String(wide.format ?? 'none')} became ${String(narrow.format)}`);

  if (prev.properties || next.properties) {
    const prevProps = prev.properties ?? {};
    const nextProps = next.properties ?? {};
    const prevRequired = new Set(prev.required ?? []);
    const nextRequired = new Set(next.required ?? []);
    for (const name of new Set([...Object.keys(prevProps), ...Object.keys(nextProps)])) {
      const at = `${path}/${name}`;
      const before = prevProps[name];
      const after = nextProps[name];
      if (before && after) {
        schemaBreaks(before, after, at, direction, out);
        if (direction === 'input' && nextRequired.has(name) && !prevRequired.has(name)) out.push(`${at}: became required`);
        if (direction === 'output' && prevRequired.has(name) && !nextRequired.has(name)) out.push(`${at}: may now be absent`);
      } else if (before && !after) {
        if (direction === 'output' && prevRequired.has(name)) out.push(`${at}: removed`);
        if (direction === 'input' && next.additionalProperties === false) out.push(`${at}: removed (requests that send it are now refused)`);
      } else if (!before && after) {
        if (direction === 'input' && nextRequired.has(name)) out.push(`${at}: new required input`);
        if (direction === 'output' && prev.additionalProperties === false) out.push(`${at}: added, and old readers refuse unknown properties`);
      }
    }
  }
  if (prev.items && next.items) schemaBreaks(prev.items, next.items, `${path}/[]`, direction, out);
  return out;
}

type Operation = { parameters?: { name: string; in: string; required: boolean; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> }; responses: Record<string, { content: Record<string, { schema: Schema }> }>; 'x-callers'?: unknown };

const major = (version: string) => Number(version.split('.')[0]);
const firstSchema = (content: Record<string, { schema: Schema }> | undefined) => (content ? Object.values(content)[0]?.schema : undefined);

/** Every breaking change from `prev` to `next` that its version number does not announce. */
export function unannouncedBreaks(prev: Snapshot, next: Snapshot): string[] {
  const problems: string[] = [];
  for (const [service, before] of Object.entries(prev.services)) {
    const after = next.services[service];
    const breaks: string[] = [];
    if (!after) {
      problems.push(`${service}: contract removed`);
      continue;
    }
    const prevPaths = before.paths as Record<string, Record<string, Operation>>;
    const nextPaths = after.paths as Record<string, Record<string, Operation>>;
    for (const [path, methods] of Object.entries(prevPaths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${service} ${method.toUpperCase()} ${path}`;
        const nextOp = nextPaths[path]?.[method];
        if (!nextOp) {
          breaks.push(`${where}: route removed`);
          continue;
        }
        for (const param of nextOp.parameters ?? []) {
          const old = (op.parameters ?? []).find((p) => p.name === param.name && p.in === param.in);
          if (!old && param.required) breaks.push(`${where}: new required ${param.in} parameter ${param.name}`);
          if (old) {
            if (param.required && !old.required) breaks.push(`${where}: ${param.in} parameter ${param.name} became required`);
            schemaBreaks(old.schema, param.schema, `${where} ${param.in}.${param.name}`, 'input', breaks);
          }
        }
        const oldBody = firstSchema(op.requestBody?.content);
        const newBody = firstSchema(nextOp.requestBody?.content);
        if (newBody && !oldBody) breaks.push(`${where}: now requires a body`);
        if (oldBody && newBody) schemaBreaks(oldBody, newBody, `${where} body`, 'input', breaks);
        for (const [status, response] of Object.entries(nextOp.responses)) {
          const old = op.responses[status];
          if (!old) breaks.push(`${where}: new response status ${status} that old callers do not expect`);
          else {
            const a = firstSchema(old.content);
            const b = firstSchema(response.content);
            if (a && b) schemaBreaks(a, b, `${where} ${status}`, 'output', breaks);
          }
        }
      }
    }
    const versionBefore = String((before.info as { version: string }).version);
    const versionAfter = String((after.info as { version: string }).version);
    if (breaks.length > 0 && major(versionAfter) <= major(versionBefore)) {
      problems.push(...breaks.map((b) => `${b} (version ${versionBefore} → ${versionAfter}: a breaking change needs a new major version)`));
    }
  }
  for (const [key, before] of Object.entries(prev.events)) {
    const after = next.events[key];
    if (!after) {
      problems.push(`event ${key}: removed`);
      continue;
    }
    const breaks = schemaBreaks(before.data as Schema, after.data as Schema, `event ${before.type} data`, 'output');
    if (breaks.length > 0 && major(after.version) <= major(before.version)) {
      problems.push(...breaks.map((b) => `${b} (version ${before.version} → ${after.version}: a breaking change needs a new major version)`));
    }
  }
  return problems;
}
