/**
 * The gateway's own access tokens: RFC 9068 JWTs signed with its ES256 key, bound to the client's
 * DPoP key by `cnf.jkt` (RFC 9449 §6). The private key lives in one PEM file, mode 0600; the public
 * half is published as a JWKS, with the RFC 7638 thumbprint as `kid`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, open, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwkThumbprint, parsePublicJwk, type EcPublicJwk } from './jwk.js';
import { JwsError, algorithmForPrivateKey, parseCompactJws, signCompactJws, verifyJws, type ParsedJws } from '@msa-poc/platform/jws';
import { LruCache } from './lru-cache.js';

export const maxAccessTokenLifetimeSeconds = 600;

/** RFC 9396 authorization details of a support token: what its grant allows, for whom, and why. */
export interface SupportAuthorizationDetail {
  type: typeof supportDetailType;
  customer: string;
  actions: string[];
  ticket: string;
  grant_id: string;
}

export const supportDetailType = 'support_access';

export interface AccessTokenClaims {
  iss: string;
  /** The client id; for a support token, the customer the engineer acts for (RFC 8693 §4.1). */
  sub: string;
  aud: string;
  client_id: string;
  /** Space-delimited scopes. */
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  cnf: { jkt: string };
  /** Present when the client is registered for one customer: it acts for that customer only. */
  customer_id?: string;
  /** A support token's acting party: the engineer's client (RFC 8693 §4.1). */
  act?: { sub: string };
  /** A support token's grant (RFC 9396); present exactly when `act` is. */
  authorization_details?: SupportAuthorizationDetail[];
}

export interface IssueAccessTokenOptions {
  clientId: string;
  customerId?: string;
  /** A support token: the engineer (`clientId`) acts for `customerId` under this grant. */
  support?: Omit<SupportAuthorizationDetail, 'type'>;
  scope: string;
  /** Thumbprint of the client's DPoP key. */
  jkt: string;
  lifetimeSeconds: number;
  issuer: string;
  audience: string;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
}

export interface VerifyAccessTokenOptions {
  issuer: string;
  audience: string;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  /** Clock difference tolerated between gateway replicas (default 5 s). */
  leewaySeconds?: number;
}

export class AccessTokenError extends Error {
  override name = 'AccessTokenError';
}

export interface PublishedJwk extends EcPublicJwk {
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

const maxTokenLength = 4096;
const jktPattern = /^[A-Za-z0-9_-]{43}$/;

function isString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);

function readSupportClaims(act: unknown, details: unknown, customerId: unknown): Pick<AccessTokenClaims, 'act' | 'authorization_details'> {
  if (act === undefined && details === undefined) return {};
  const actor = typeof act === 'object' && act !== null ? (act as Record<string, unknown>).sub : undefined;
  const detail = Array.isArray(details) && details.length === 1 ? (details[0] as Record<string, unknown>) : undefined;
  if (!isString(actor) || !detail || detail.type !== supportDetailType || !isString(detail.customer) || detail.customer !== customerId
    || !isStringArray(detail.actions) || !isString(detail.ticket) || !isString(detail.grant_id)) {
    throw new AccessTokenError('support token act or authorization_details is malformed');
  }
  return { act: { sub: actor }, authorization_details: [{ type: supportDetailType, customer: detail.customer, actions: detail.actions, ticket: detail.ticket, grant_id: detail.grant_id }] };
}

function readClaims(payload: Record<string, unknown>): AccessTokenClaims {
  const { iss, sub, aud, client_id, scope, iat, exp, jti, cnf, customer_id, act, authorization_details } = payload;
  if (!isString(iss) || !isString(sub) || !isString(aud) || !isString(client_id) || typeof scope !== 'string' || !isString(jti)) {
    throw new AccessTokenError('access token lacks a required claim');
  }
  if (!isTime(iat) || !isTime(exp)) throw new AccessTokenError('access token iat/exp missing');
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined;
  if (typeof jkt !== 'string' || !jktPattern.test(jkt)) throw new AccessTokenError('access token is not bound to a DPoP key (cnf.jkt)');
  if (customer_id !== undefined && !isString(customer_id)) throw new AccessTokenError('access token customer_id is malformed');
  return { iss, sub, aud, client_id, scope, iat, exp, jti, cnf: { jkt }, ...(customer_id ? { customer_id } : {}), ...readSupportClaims(act, authorization_details, customer_id) };
}

export class AccessTokenSigner {
  readonly kid: string;
  readonly publicJwk: PublishedJwk;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  /**
   * Tokens that already verified, by their exact text: a client reuses one token for minutes, and
   * skipping the second ECDSA verification per request (~85 µs) halves the CPU of authentication.
   * Claims are still checked against time, issuer and audience on every hit.
   */
  readonly #verified = new LruCache<string, AccessTokenClaims>(10_000);

  constructor(privateKey: KeyObject) {
    if (algorithmForPrivateKey(privateKey) !== 'ES256') throw new AccessTokenError('the access token signing key must be EC P-256');
    this.#privateKey = privateKey;
    this.#publicKey = createPublicKey(privateKey);
    const jwk = parsePublicJwk(this.#publicKey.export({ format: 'jwk' })) as EcPublicJwk;
    this.kid = jwkThumbprint(jwk);
    this.publicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: this.kid, alg: 'ES256', use: 'sig' };
  }

  static generate(): AccessTokenSigner {
    return new AccessTokenSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  issueAccessToken(options: IssueAccessTokenOptions): string {
    const { clientId, customerId, support, scope, jkt, lifetimeSeconds, issuer, audience } = options;
    if (support !== undefined && support.customer !== customerId) throw new RangeError('a support token acts for the customer of its grant');
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > maxAccessTokenLifetimeSeconds) {
      throw new RangeError(`access token lifetime must be 1..${maxAccessTokenLifetimeSeconds} s, got ${lifetimeSeconds}`);
    }
    if (!jktPattern.test(jkt)) throw new RangeError('jkt must be an RFC 7638 SHA-256 thumbprint');
    const iat = Math.floor((options.now ?? Date.now()) / 1000);
    const claims: AccessTokenClaims = {
      iss: issuer,
      sub: support ? support.customer : clientId,
      aud: audience,
      client_id: clientId,
      scope,
      iat,
      exp: iat + lifetimeSeconds,
      jti: randomBytes(16).toString('base64url'),
      cnf: { jkt },
      ...(customerId ? { customer_id: customerId } : {}),
      ...(support ? { act: { sub: clientId }, authorization_details: [{ type: supportDetailType, ...support }] } : {}),
    };
    return signCompactJws({ typ: 'at+jwt', kid: this.kid }, { ...claims }, this.#privateKey);
  }

  /** Verifies signature, header and claims; throws `AccessTokenError` with the reason. */
  verifyAccessToken(token: string, options: VerifyAccessTokenOptions): AccessTokenClaims {
    const now = (options.now ?? Date.now()) / 1000;
    const leeway = options.leewaySeconds ?? 5;
    let claims = this.#verified.get(token);
    const cached = claims !== undefined;
    if (claims === undefined) {
      let jws: ParsedJws;
      try {
        jws = parseCompactJws(token, maxTokenLength);
      } catch (error) {
        throw new AccessTokenError(`access token is not a valid JWS: ${error instanceof JwsError ? error.message : 'unreadable'}`);
      }
      // RFC 9068 §4: typ must be at+jwt, which keeps proofs and assertions from passing as tokens.
      const typ = typeof jws.header.typ === 'string' ? jws.header.typ.toLowerCase() : undefined;
      if (typ !== 'at+jwt' && typ !== 'application/at+jwt') throw new AccessTokenError('access token typ must be "at+jwt"');
      if (jws.alg !== 'ES256' || jws.header.kid !== this.kid) throw new AccessTokenError('access token was not signed by this gateway key');
      if (!verifyJws(jws, this.#publicKey)) throw new AccessTokenError('access token signature is invalid');
      claims = readClaims(jws.payload);
    }
    if (claims.iss !== options.issuer) throw new AccessTokenError('access token issuer is not this gateway');
    if (claims.aud !== options.audience) throw new AccessTokenError('access token audience is not this API');
    if (now >= claims.exp + leeway) throw new AccessTokenError('access token expired');
    if (claims.iat > now + leeway) throw new AccessTokenError('access token issued in the future');
    if (!cached) this.#verified.set(token, claims);
    return claims;
  }

  /** The document for `/.well-known/jwks.json`. */
  jwks(): { keys: PublishedJwk[] } {
    return { keys: [{ ...this.publicJwk }] };
  }
}

async function readKeyFile(path: string): Promise<AccessTokenSigner> {
  const handle = await open(path, 'r');
  try {
    // Checked on the open handle, so the file judged is the file read.
    const stat = await handle.stat();
    if (!stat.isFile()) throw new AccessTokenError(`${path} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new AccessTokenError(`${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}): run chmod 600 on it`);
    }
    const pem = await handle.readFile('utf8');
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch {
      throw new AccessTokenError(`${path} does not hold a PEM private key`);
    }
    return new AccessTokenSigner(key);
  } finally {
    await handle.close();
  }
}

/**
 * Loads the signing key from `dir/fileName`, creating it on first start. Creation writes a private
 * temporary file and hard-links it into place, which fails if the name exists: two processes
 * starting together end up with the same key, and nobody ever reads a half-written file.
 */
export async function loadOrCreateSigningKey(dir: string, fileName = 'access-token-signing-key.pem'): Promise<AccessTokenSigner> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, fileName);
  try {
    return await readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, pem, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  return readKeyFile(path);
}
