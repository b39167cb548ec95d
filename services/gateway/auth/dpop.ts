/**
 * DPoP proof verification, every check of RFC 9449 §4.3, plus the client-side proof builder that
 * the CLI, the load client and the tests use.
 *
 * Cheap claim checks run before the signature so that junk costs little CPU; the nonce and replay
 * checks, which may cost a round trip and write state, run only for proofs that verified.
 */
import { createHash, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { JwkError, importPublicJwk, type ImportedKey, type PublicJwk, type PublicKeyCache } from './jwk.js';
import { JwsError, parseCompactJws, signCompactJws, verifyJws, type JsonObject, type ParsedJws } from '@msa-poc/platform/jws';
import type { NonceStore } from './nonces.js';
import type { ReplayGuard } from './replay.js';

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopError extends Error {
  override name = 'DpopError';
  constructor(
    readonly code: DpopErrorCode,
    readonly description: string,
    /** With `use_dpop_nonce`: a fresh nonce for the `DPoP-Nonce` response header. */
    readonly nonce?: string,
  ) {
    super(`${code}: ${description}`);
  }
}

/** How strictly proofs are checked, and the state that checking needs: the same at every route. */
export interface DpopPolicy {
  /** Accepted distance between `iat` and now, either way (default 60 s). */
  skewSeconds?: number;
  replay: ReplayGuard;
  nonces?: NonceStore;
  requireNonce?: boolean;
  keyCache?: PublicKeyCache;
}

/** Just the policy fields of a larger options object, to pass on to `verifyDpopProof`. */
export const dpopPolicyOf = ({ skewSeconds, replay, nonces, requireNonce, keyCache }: DpopPolicy): DpopPolicy => ({ skewSeconds, replay, nonces, requireNonce, keyCache });

export interface VerifyDpopOptions extends DpopPolicy {
  /** Every value of the request's `DPoP` header (node's `req.headersDistinct.dpop`). */
  headerValues: string[] | undefined;
  method: string;
  /** The absolute URL the request was made to, as the client addressed it. */
  url: string;
  /** The access token presented with the proof; makes `ath` mandatory. */
  accessToken?: string;
  /** The `cnf.jkt` of that access token; the proof must be signed by that key. */
  expectedJkt?: string;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
}

export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof key. */
  jkt: string;
  jti: string;
  jwk: PublicJwk;
  /** Seconds since the epoch, as the proof states. */
  iat: number;
}

/** A proof carries one small key and a few claims; 4 KiB leaves room for a nonce and `ath`. */
const maxProofLength = 4096;
const maxJtiLength = 256;

const invalid = (description: string) => new DpopError('invalid_dpop_proof', description);

/**
 * `htu` comparison form (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2–6.2.3): WHATWG parsing lower-cases
 * scheme and host, drops the default port and resolves dot segments; percent-encodings are then
 * made canonical (unreserved characters decoded, hex upper-cased). Query and fragment are dropped.
 * Returns undefined for anything that is not an absolute http(s) URL without user info.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') return undefined;
  let path = url.pathname;
  if (path.includes('%')) {
    path = path.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
    });
  }
  return `${url.protocol}//${url.host}${path}`;
}

/** `ath`: base64url SHA-256 of the ASCII access token (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

function equalStrings(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

async function nonceError(nonces: NonceStore | undefined, description: string): Promise<DpopError> {
  return new DpopError('use_dpop_nonce', description, nonces === undefined ? undefined : await nonces.issue());
}

export async function verifyDpopProof(options: VerifyDpopOptions): Promise<VerifiedDpopProof> {
  const { headerValues, method, url, accessToken, expectedJkt, replay, nonces, requireNonce = false } = options;
  const now = options.now ?? Date.now();
  const skewSeconds = options.skewSeconds ?? 60;

  // Exactly one header holding one JWT (a comma means a proxy folded two headers into one).
  if (headerValues === undefined || headerValues.length === 0) throw invalid('DPoP proof missing: send exactly one DPoP header');
  if (headerValues.length > 1) throw invalid('more than one DPoP header');
  const proof = headerValues[0] as string;
  if (proof.includes(',')) throw invalid('more than one DPoP proof in the DPoP header');

  // A well-formed JWT of type dpop+jwt; parsing admits only ES256 and EdDSA.
  let jws: ParsedJws;
  try {
    jws = parseCompactJws(proof.trim(), maxProofLength);
  } catch (error) {
    throw invalid(`DPoP proof is not a valid JWS: ${error instanceof JwsError ? error.message : 'unreadable'}`);
  }
  const { header, payload: claims } = jws;
  if (header.typ !== 'dpop+jwt') throw invalid('DPoP proof typ must be "dpop+jwt"');

  // The claims: cheap, so checked before a key is imported (~60 µs when not cached).
  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > maxJtiLength) throw invalid(`DPoP proof jti must be a string of 1 to ${maxJtiLength} characters`);
  if (typeof htm !== 'string' || htm !== method) throw invalid(`DPoP proof htm does not match the request method ${method}`);
  if (typeof htu !== 'string') throw invalid('DPoP proof htu missing');
  const requestUrl = normalizeHtu(url);
  if (requestUrl === undefined) throw invalid('request URL cannot be compared with htu');
  if (normalizeHtu(htu) !== requestUrl) throw invalid('DPoP proof htu does not match the request URL');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('DPoP proof iat missing or not a number');
  if (Math.abs(now / 1000 - iat) > skewSeconds) throw invalid(`DPoP proof iat is more than ${skewSeconds} s away from the server time`);
  if (accessToken !== undefined) {
    if (typeof claims.ath !== 'string' || !equalStrings(claims.ath, accessTokenHash(accessToken))) {
      throw invalid('DPoP proof ath does not match the access token');
    }
  }

  // A public key of an accepted kind that fits alg and, with a token, is the key it is bound to.
  let key: ImportedKey;
  try {
    key = importPublicJwk(header.jwk, options.keyCache);
  } catch (error) {
    throw invalid(`DPoP proof jwk: ${error instanceof JwkError ? error.message : 'missing or invalid'}`);
  }
  if (key.alg !== jws.alg) throw invalid(`DPoP proof alg ${jws.alg} does not fit its ${key.jwk.crv} jwk`);
  if (expectedJkt !== undefined && !equalStrings(key.thumbprint, expectedJkt)) {
    throw invalid('DPoP proof key is not the key the access token is bound to');
  }

  // The signature, by the key in the header.
  if (!verifyJws(jws, key.key)) throw invalid('DPoP proof signature is invalid');

  // Nonce (§8, §9) before replay, so a proof refused for want of a nonce does not burn its jti.
  if (requireNonce) {
    if (typeof claims.nonce !== 'string') throw await nonceError(nonces, 'a DPoP nonce is required: retry with the nonce from the DPoP-Nonce header');
    if (nonces === undefined || !(await nonces.isValid(claims.nonce))) throw await nonceError(nonces, 'DPoP nonce is unknown or expired: retry with the nonce from the DPoP-Nonce header');
  }

  // jti single use per key (§11.1), for as long as any iat could still be accepted anywhere.
  if (!(await replay.firstUse(`dpop:${key.thumbprint}:${jti}`, 2 * skewSeconds * 1000))) {
    throw invalid('DPoP proof was already used (jti replayed)');
  }
  return { jkt: key.thumbprint, jti, jwk: key.jwk, iat };
}

export interface CreateDpopProofOptions {
  privateKey: KeyObject;
  /** The public JWK of `privateKey`, as it will appear in the proof header. */
  publicJwk: PublicJwk;
  method: string;
  url: string;
  accessToken?: string;
  nonce?: string;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  jti?: string;
  /** Extra or overriding claims, for tests that forge a single defect. */
  claims?: JsonObject;
  /** Extra or overriding header parameters, likewise. */
  header?: JsonObject;
}

/** Client side: a fresh proof for one request (query and fragment stripped from `htu`). */
export function createDpopProof(options: CreateDpopProofOptions): string {
  const url = new URL(options.url);
  const { kid: _kid, ...jwk } = options.publicJwk;
  const claims: JsonObject = {
    jti: options.jti ?? randomBytes(16).toString('base64url'),
    htm: options.method,
    htu: `${url.origin}${url.pathname}`,
    iat: Math.floor((options.now ?? Date.now()) / 1000),
  };
  if (options.accessToken !== undefined) claims.ath = accessTokenHash(options.accessToken);
  if (options.nonce !== undefined) claims.nonce = options.nonce;
  return signCompactJws({ typ: 'dpop+jwt', jwk, ...options.header }, { ...claims, ...options.claims }, options.privateKey);
}
