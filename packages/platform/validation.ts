/**
 * Schema validation with TypeBox's compiled checkers: the same code validates what a server
 * receives and what a client gets back. Beyond the schema, every string that enters the system
 * must be well-formed Unicode without NUL: PostgreSQL refuses NUL in text, and a lone surrogate
 * cannot be encoded back to UTF-8 faithfully.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

export function checker(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

const loneSurrogate = /\p{Cs}/u;

/** The first string in `value` that is not safe text, with its path. */
export function unsafeText(value: unknown, path = ''): FieldError | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { path: path || '/', message: 'contains a NUL character' };
    if (loneSurrogate.test(value)) return { path: path || '/', message: 'contains a lone UTF-16 surrogate (not valid Unicode)' };
    return undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unsafeText(value[i], `${path}/${i}`);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const found = unsafeText(key, `${path}/${key}`) ?? unsafeText(v, `${path}/${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * Text input (a query string, path parameters, headers) as the schema's types, with its defaults
 * applied, but not checked: what a server still needs with validation switched off.
 */
export function coerce(schema: TSchema, value: unknown): unknown {
  return Value.Default(schema, Value.Convert(schema, Value.Clone(value)));
}

/**
 * Validates `value` against `schema`. With `coerce`, strings are converted first (query strings and
 * path parameters arrive as text), and defaults are applied.
 */
export function validate<T = unknown>(schema: TSchema, value: unknown, options: { coerce?: boolean; where?: string } = {}): Validation<T> {
  const prefix = options.where ?? '';
  const text = unsafeText(value);
  if (text) return { ok: false, errors: [{ path: `${prefix}${text.path}`, message: text.message }] };
  const candidate = options.coerce ? coerce(schema, value) : value;
  const check = checker(schema);
  if (check.Check(candidate)) return { ok: true, value: candidate as T };
  const errors: FieldError[] = [];
  for (const error of check.Errors(candidate)) {
    errors.push({ path: `${prefix}${error.path || '/'}`, message: error.message });
    if (errors.length >= 10) break;
  }
  return { ok: false, errors };
}
