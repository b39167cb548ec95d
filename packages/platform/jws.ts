/**
 * Compact JWS (RFC 7515) parsing, verification and signing for exactly two algorithms: ES256 and
 * EdDSA (Ed25519).
 *
 * Hand-written on purpose rather than taken from a JOSE library: DPoP verification runs on every
 * API request and has a budget of 150 µs of CPU, of which one ES256 `crypto.verify` alone takes
 * about 85 µs on the reference machine. What is left leaves no room for generic algorithm
 * negotiation or a key import per call, and a closed list of two asymmetric algorithms means `none`
 * and HMAC cannot be reached by any header a caller sends.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export type JwsAlgorithm = 'ES256' | 'EdDSA';
export const jwsAlgorithms: readonly JwsAlgorithm[] = ['ES256', 'EdDSA'];

export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return value === 'ES256' || value === 'EdDSA';
}

export class JwsError extends Error {
  override name = 'JwsError';
}

export type JsonObject = Record<string, unknown>;

export interface ParsedJws {
  alg: JwsAlgorithm;
  header: JsonObject;
  payload: JsonObject;
  /** ASCII bytes of `header.payload`, the exact input the signature covers. */
  signingInput: Buffer;
  signature: Buffer;
}

/** Upper bound for a whole compact JWS; callers pass a tighter one where they know better. */
export const defaultMaxJwsLength = 8192;

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const base64urlPattern = /^[A-Za-z0-9_-]+$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function base64urlEncode(data: Buffer | Uint8Array | string): string {
  if (typeof data === 'string') return Buffer.from(data, 'utf8').toString('base64url');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64url');
}

/**
 * Strict base64url (RFC 7515 §2): URL-safe alphabet, no padding, no whitespace, and the unused
 * low bits of the last character zero. Node's own decoder skips invalid characters silently, which
 * would let two different strings stand for the same bytes.
 */
export function base64urlDecode(text: string): Buffer {
  if (text.length === 0 || !base64urlPattern.test(text)) throw new JwsError('not base64url');
  const rest = text.length % 4;
  if (rest === 1) throw new JwsError('not base64url: impossible length');
  if (rest !== 0) {
    const last = alphabet.indexOf(text[text.length - 1] as string);
    const unusedBits = rest === 2 ? 0b1111 : 0b11;
    if ((last & unusedBits) !== 0) throw new JwsError('not base64url: non-canonical final character');
  }
  return Buffer.from(text, 'base64url');
}

function decodeJsonObject(part: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(base64urlDecode(part)));
  } catch {
    throw new JwsError(`${what} is not base64url-encoded UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsError(`${what} is not a JSON object`);
  }
  return value as JsonObject;
}

/**
 * Splits and decodes a compact JWS without verifying it. Refuses anything but three non-empty
 * base64url parts whose first two are JSON objects, an `alg` other than ES256/EdDSA, and any
 * `crit` header (this code understands no extension, RFC 7515 §4.1.11).
 */
export function parseCompactJws(token: unknown, maxLength = defaultMaxJwsLength): ParsedJws {
  if (typeof token !== 'string') throw new JwsError('not a string');
  if (token.length > maxLength) throw new JwsError(`longer than ${maxLength} characters`);
  const firstDot = token.indexOf('.');
  const secondDot = firstDot < 0 ? -1 : token.indexOf('.', firstDot + 1);
  if (secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) {
    throw new JwsError('not a compact JWS (three dot-separated parts)');
  }
  const header = decodeJsonObject(token.slice(0, firstDot), 'header');
  const alg = header.alg;
  if (!isJwsAlgorithm(alg)) {
    throw new JwsError(`alg ${JSON.stringify(alg) ?? 'missing'} is not accepted (only ES256 and EdDSA)`);
  }
  if ('crit' in header) throw new JwsError('crit header parameters are not supported');
  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot), 'payload');
  let signature: Buffer;
  try {
    signature = base64urlDecode(token.slice(secondDot + 1));
  } catch {
    throw new JwsError('signature is not base64url');
  }
  return { alg, header, payload, signingInput: Buffer.from(token.slice(0, secondDot), 'latin1'), signature };
}

const keyTypeFor: Record<JwsAlgorithm, string> = { ES256: 'ec', EdDSA: 'ed25519' };

/**
 * Verifies a signature with `node:crypto` only. ES256 signatures are the raw 64-byte R||S form
 * (JWA §3.4), hence `ieee-p1363`; Ed25519 takes no separate digest, hence `null`. The key's curve
 * is fixed where keys enter (jwk.ts accepts only P-256 for EC), so only the key type is checked here.
 */
export function verifySignature(alg: JwsAlgorithm, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  if (signature.length !== 64 || key.type !== 'public' || key.asymmetricKeyType !== keyTypeFor[alg]) return false;
  try {
    return alg === 'ES256'
      ? cryptoVerify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature)
      : cryptoVerify(null, signingInput, key, signature);
  } catch {
    return false;
  }
}

export function verifyJws(jws: ParsedJws, key: KeyObject): boolean {
  return verifySignature(jws.alg, key, jws.signingInput, jws.signature);
}

/** The algorithm a private key signs with, or an error for any key this module does not sign with. */
export function algorithmForPrivateKey(key: KeyObject): JwsAlgorithm {
  if (key.type !== 'private') throw new JwsError('a private key is required to sign');
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new JwsError('only P-256 and Ed25519 private keys can sign');
}

/**
 * Produces a compact JWS. `alg` is derived from the key and written first in the header, so a
 * caller cannot label a signature with an algorithm other than the one that made it.
 */
export function signCompactJws(header: JsonObject, payload: JsonObject, privateKey: KeyObject): string {
  const alg = algorithmForPrivateKey(privateKey);
  if (header.alg !== undefined && header.alg !== alg) throw new JwsError(`header alg ${String(header.alg)} does not match the ${alg} key`);
  const signingInput = `${base64urlEncode(JSON.stringify(Object.assign({ alg }, header, { alg })))}.${base64urlEncode(JSON.stringify(payload))}`;
  const data = Buffer.from(signingInput, 'latin1');
  const signature = alg === 'ES256'
    ? cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    : cryptoSign(null, data, privateKey);
  return `${signingInput}.${base64urlEncode(signature)}`;
}
