/**
 * Masking by policy (the contracts' `FieldPolicy`): a value goes in, the part a support engineer
 * may see comes out, with the paths served in clear and those masked. Default deny: whatever the
 * policy does not name is omitted. Anything unexpected (a rule that makes no sense, a shape the
 * policy does not describe) throws, so that the caller can refuse to serve rather than serve clear.
 */
import { createHash } from 'node:crypto';
import { isRule, type FieldPolicy, type FieldRule } from '@msa-poc/contracts';

export interface Masked {
  readonly value: unknown;
  /** Leaf paths served as they are, arrays as `[]` (`items[].sku`), each once. */
  readonly clear: readonly string[];
  /** Paths masked, each with how (`shippingAddress.line1:omit`, `loyalty:no-policy`), each once. */
  readonly masked: readonly string[];
}

export type Masker = (value: unknown, policy: FieldPolicy | undefined, salt: Buffer) => Masked;

export class MaskingError extends Error {
  override readonly name = 'MaskingError';
}

const hidden = '***';

function partial(text: string, side: 'first' | 'last', keep: number): string {
  if (!Number.isInteger(keep) || keep < 1) throw new MaskingError(`a partial rule keeps a whole number of characters, not ${keep}`);
  const chars = [...text];
  if (chars.length <= keep * 2) return hidden;
  return side === 'first' ? `${chars.slice(0, keep).join('')}${hidden}` : `${hidden}${chars.slice(-keep).join('')}`;
}

/** SHA-256 over the grant's salt and the value: not reversible by hashing guesses without the salt. */
export const saltedHash = (value: unknown, salt: Buffer): string =>
  `hash:${createHash('sha256').update(salt).update('\u0000').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex').slice(0, 16)}`;

function applyRule(rule: FieldRule, value: unknown, salt: Buffer): { served: boolean; value?: unknown } {
  if (rule === 'clear') return { served: true, value };
  if (rule === 'omit') return { served: false };
  if (rule === 'hashed') {
    if (salt.length < 16) throw new MaskingError('a hashed rule needs the grant\'s salt of at least 16 bytes');
    return { served: true, value: saltedHash(value, salt) };
  }
  if (typeof value !== 'string') throw new MaskingError(`a partial rule applies to text, not to a ${typeof value}`);
  return { served: true, value: partial(value, rule.partial, rule.keep) };
}

export const mask: Masker = (value, policy, salt) => {
  const clear = new Set<string>();
  const masked = new Set<string>();
  const walk = (node: unknown, rule: FieldPolicy | undefined, path: string): { served: boolean; value?: unknown } => {
    if (rule === undefined) {
      masked.add(`${path || '(body)'}:no-policy`);
      return { served: false };
    }
    if (isRule(rule)) {
      const result = applyRule(rule, node, salt);
      (rule === 'clear' ? clear : masked).add(rule === 'clear' ? path : `${path}:${typeof rule === 'string' ? rule : 'partial'}`);
      return result;
    }
    if (Array.isArray(rule)) {
      if (!Array.isArray(node)) throw new MaskingError(`${path || 'the body'} should be an array by its policy`);
      const element = rule[0] as FieldPolicy;
      return { served: true, value: node.map((item) => walk(item, element, `${path}[]`)).filter((item) => item.served).map((item) => item.value) };
    }
    if (node === null || typeof node !== 'object' || Array.isArray(node)) throw new MaskingError(`${path || 'the body'} should be an object by its policy`);
    const fields = rule as { readonly [field: string]: FieldPolicy };
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      const result = walk(child, Object.hasOwn(fields, key) ? fields[key] : undefined, path ? `${path}.${key}` : key);
      if (result.served) out[key] = result.value;
    }
    return { served: true, value: out };
  };
  const result = walk(value, policy, '');
  return { value: result.served ? result.value : {}, clear: [...clear], masked: [...masked] };
};
