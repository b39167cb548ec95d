/**
 * Public JSON Web Keys (RFC 7517) of the two kinds this gateway accepts, EC P-256 and OKP Ed25519:
 * validation, RFC 7638 thumbprints, and conversion to a cached `KeyObject`.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { base64urlDecode, type JwsAlgorithm } from '@msa-poc/platform/jws';
import { LruCache } from './lru-cache.js';

export interface EcPublicJwk { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid?: string }
export interface OkpPublicJwk { kty: 'OKP'; crv: 'Ed25519'; x: string; kid?: string }
export type PublicJwk = EcPublicJwk | OkpPublicJwk;

export class JwkError extends Error {
  override name = 'JwkError';
}

/** Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const secretMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

function coordinate(jwk: Record<string, unknown>, name: 'x' | 'y'): string {
  const value = jwk[name];
  if (typeof value !== 'string') throw new JwkError(`JWK member "${name}" is missing or not a string`);
  let bytes: Buffer;
  try {
    bytes = base64urlDecode(value);
  } catch {
    throw new JwkError(`JWK member "${name}" is not base64url`);
  }
  // Both curves use 32-byte coordinates; a shorter or padded encoding would change the thumbprint
  // of what is the same key.
  if (bytes.length !== 32) throw new JwkError(`JWK member "${name}" must encode 32 bytes, got ${bytes.length}`);
  return value;
}

/**
 * Validates a public JWK and returns only the members that define the key (plus `kid`). A JWK
 * with private material is refused outright rather than stripped: whoever sent it has leaked it.
 */
export function parsePublicJwk(input: unknown): PublicJwk {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new JwkError('JWK is not a JSON object');
  const jwk = input as Record<string, unknown>;
  for (const member of secretMembers) {
    if (member in jwk) {
      throw new JwkError(`JWK contains the private member "${member}": register and send the PUBLIC key only, and treat this private key as leaked`);
    }
  }
  let kid: string | undefined;
  if (jwk.kid !== undefined) {
    if (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > 256) throw new JwkError('JWK "kid" must be a string of 1 to 256 characters');
    kid = jwk.kid;
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new JwkError('JWK "use" must be "sig" when present');
  if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((op) => op === 'verify'))) {
    throw new JwkError('JWK "key_ops" may only contain "verify"');
  }
  let parsed: PublicJwk;
  if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256') throw new JwkError(`EC curve ${JSON.stringify(jwk.crv) ?? 'missing'} is not accepted (only P-256)`);
    parsed = { kty: 'EC', crv: 'P-256', x: coordinate(jwk, 'x'), y: coordinate(jwk, 'y') };
  } else if (jwk.kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') throw new JwkError(`OKP curve ${JSON.stringify(jwk.crv) ?? 'missing'} is not accepted (only Ed25519)`);
    if ('y' in jwk) throw new JwkError('an Ed25519 JWK has no "y" member');
    parsed = { kty: 'OKP', crv: 'Ed25519', x: coordinate(jwk, 'x') };
  } else {
    throw new JwkError(`key type ${JSON.stringify(jwk.kty) ?? 'missing'} is not accepted (only EC P-256 and OKP Ed25519)`);
  }
  const alg = algorithmForJwk(parsed);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new JwkError(`JWK "alg" ${JSON.stringify(jwk.alg)} does not fit a ${parsed.crv} key (${alg})`);
  if (kid !== undefined) parsed.kid = kid;
  return parsed;
}

export function algorithmForJwk(jwk: PublicJwk): JwsAlgorithm {
  return jwk.kty === 'EC' ? 'ES256' : 'EdDSA';
}

/**
 * RFC 7638 thumbprint: base64url SHA-256 of the required members in lexicographic order with no
 * whitespace. The values are validated base64url, so plain concatenation is already the exact
 * JSON serialisation and no escaping can differ.
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  const canonical = jwk.kty === 'EC'
    ? `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
    : `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

export interface ImportedKey {
  jwk: PublicJwk;
  alg: JwsAlgorithm;
  /** RFC 7638 thumbprint, the `jkt` of DPoP. */
  thumbprint: string;
  key: KeyObject;
}

/**
 * Parsed `KeyObject`s keyed by thumbprint. Importing a P-256 JWK costs about 60 µs of CPU, close
 * to half the DPoP budget, while a client sends the same key on every request; the thumbprint
 * covers every member that defines the key, so equal thumbprints mean the same key.
 */
export class PublicKeyCache {
  readonly #keys: LruCache<string, KeyObject>;

  constructor(maxEntries = 10_000) {
    this.#keys = new LruCache(maxEntries);
  }

  get size(): number {
    return this.#keys.size;
  }

  import(input: unknown): ImportedKey {
    const jwk = parsePublicJwk(input);
    const thumbprint = jwkThumbprint(jwk);
    let key = this.#keys.get(thumbprint);
    if (key === undefined) {
      try {
        key = createPublicKey({
          key: jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x },
          format: 'jwk',
        });
      } catch {
        throw new JwkError(`JWK is not a valid ${jwk.crv} public key (the point is not on the curve)`);
      }
      this.#keys.set(thumbprint, key);
    }
    return { jwk, alg: algorithmForJwk(jwk), thumbprint, key };
  }
}

/** The process-wide cache used unless a caller brings its own. */
export const sharedPublicKeyCache = new PublicKeyCache();

export function importPublicJwk(input: unknown, cache: PublicKeyCache = sharedPublicKeyCache): ImportedKey {
  return cache.import(input);
}
