/**
 * Client authentication by `private_key_jwt` (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the
 * client signs a short-lived JWT with its registered key; no client secret exists.
 */
import { randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { importPublicJwk, type ImportedKey, type PublicKeyCache } from './jwk.js';
import { JwsError, parseCompactJws, signCompactJws, verifyJws, type JsonObject, type ParsedJws } from '@msa-poc/platform/jws';
import { OAuthError } from './oauth-error.js';
import type { ReplayGuard } from './replay.js';

export const clientAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface RegisteredClient {
  id: string;
  /** Public keys only; registration (`poc client add`) refuses private ones. */
  jwks: JsonWebKey[];
  scopes: string[];
  /** The one customer this client acts for, when it is customer-scoped. */
  customerId?: string;
  /** `support` may ask for and exchange support grants; `support-lead` decides them. */
  roles?: string[];
}

export interface ClientDirectory {
  find(id: string): Promise<RegisteredClient | undefined>;
}

export interface CheckClientAssertionOptions {
  /** The `client_assertion_type` form parameter. */
  assertionType: string | undefined;
  /** The `client_assertion` form parameter. */
  assertion: string | undefined;
  /** The `client_id` form parameter, when sent: it must name the same client. */
  clientId?: string | undefined;
  /** This token endpoint's URL, one of the two accepted audiences. */
  tokenEndpoint: string;
  /** This authorization server's issuer identifier, the other accepted audience. */
  issuer: string;
  clients: ClientDirectory;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  /** Clock difference tolerated with the client (default 30 s). */
  skewSeconds?: number;
  /** Furthest `exp` may lie ahead, and longest `exp - iat` (default 300 s). */
  maxLifetimeSeconds?: number;
  keyCache?: PublicKeyCache;
}

export interface VerifiedClientAssertion {
  client: RegisteredClient;
  jti: string;
  /** `exp` of the assertion, seconds since the epoch. */
  exp: number;
  /** RFC 7638 thumbprint of the registered key that signed it. */
  keyThumbprint: string;
}

const maxAssertionLength = 8192;
const maxIdLength = 256;
/** Bounds the signature checks one request can cause. */
const maxKeysTried = 10;

const refuse = (description: string) => new OAuthError('invalid_client', description);

function boundedString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxIdLength;
}

function optionalTime(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw refuse(`client assertion ${name} is not a number`);
  return value;
}

/**
 * Every check but single use. The token endpoint consumes the `jti` only after the DPoP proof has
 * also passed, so a client told to retry with a nonce can resend the same assertion.
 */
export async function checkClientAssertion(options: CheckClientAssertionOptions): Promise<VerifiedClientAssertion> {
  const { assertionType, assertion, clientId, tokenEndpoint, issuer, clients } = options;
  const now = (options.now ?? Date.now()) / 1000;
  const skew = options.skewSeconds ?? 30;
  const maxLifetime = options.maxLifetimeSeconds ?? 300;

  if (assertionType !== clientAssertionType) {
    throw refuse(`client authentication must be private_key_jwt: client_assertion_type=${clientAssertionType}`);
  }
  if (typeof assertion !== 'string' || assertion.length === 0) throw refuse('client_assertion missing');
  let jws: ParsedJws;
  try {
    jws = parseCompactJws(assertion, maxAssertionLength);
  } catch (error) {
    throw refuse(`client_assertion is not a valid JWS: ${error instanceof JwsError ? error.message : 'unreadable'}`);
  }
  // A DPoP proof or an access token is never a client assertion, whatever claims it carries.
  const typ = typeof jws.header.typ === 'string' ? jws.header.typ.toLowerCase() : undefined;
  if (typ === 'dpop+jwt' || typ === 'at+jwt' || typ === 'application/at+jwt') throw refuse(`a ${typ} JWT is not a client assertion`);

  const { iss, sub, aud, exp, jti } = jws.payload;
  if (!boundedString(iss) || iss !== sub) throw refuse('client assertion iss and sub must both be the client id');
  if (clientId !== undefined && clientId !== iss) throw refuse('client_id does not match the client assertion');
  // A single audience only: a list would let an assertion made for another server pass here too.
  const audience = Array.isArray(aud) && aud.length === 1 ? aud[0] : aud;
  if (audience !== tokenEndpoint && audience !== issuer) throw refuse(`client assertion aud must be ${issuer} or ${tokenEndpoint}`);
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw refuse('client assertion exp missing');
  if (exp + skew <= now) throw refuse('client assertion expired');
  if (exp > now + maxLifetime + skew) throw refuse(`client assertion exp is more than ${maxLifetime} s ahead`);
  const iat = optionalTime(jws.payload.iat, 'iat');
  if (iat !== undefined && (iat > now + skew || iat >= exp || exp - iat > maxLifetime)) {
    throw refuse(`client assertion iat must be in the past and within ${maxLifetime} s of exp`);
  }
  const nbf = optionalTime(jws.payload.nbf, 'nbf');
  if (nbf !== undefined && (nbf > now + skew || nbf >= exp)) throw refuse('client assertion not valid yet (nbf)');
  if (!boundedString(jti)) throw refuse(`client assertion jti must be a string of 1 to ${maxIdLength} characters`);

  const client = await clients.find(iss);
  if (client === undefined) throw refuse('unknown client');
  const kid = jws.header.kid;
  let tried = 0;
  for (const candidate of client.jwks) {
    if (kid !== undefined && candidate.kid !== undefined && candidate.kid !== kid) continue;
    let imported: ImportedKey;
    try {
      imported = importPublicJwk(candidate, options.keyCache);
    } catch {
      continue;
    }
    if (imported.alg !== jws.alg) continue;
    if (++tried > maxKeysTried) break;
    if (verifyJws(jws, imported.key)) return { client, jti, exp, keyThumbprint: imported.thumbprint };
  }
  throw refuse('client assertion is not signed by a key registered for this client');
}

/** Records the assertion's `jti` as used until the assertion could no longer be accepted. */
export async function consumeClientAssertion(
  verified: VerifiedClientAssertion,
  replay: ReplayGuard,
  options: { now?: number; skewSeconds?: number } = {},
): Promise<void> {
  const now = options.now ?? Date.now();
  const ttlMs = Math.max(1000, (verified.exp + (options.skewSeconds ?? 30)) * 1000 - now);
  // Length-prefixed so that no client id and jti pair can spell another pair's key.
  const id = verified.client.id;
  if (!(await replay.firstUse(`client-assertion:${id.length}:${id}:${verified.jti}`, ttlMs))) {
    throw refuse('client assertion was already used (jti replayed)');
  }
}

export async function verifyClientAssertion(options: CheckClientAssertionOptions & { replay: ReplayGuard }): Promise<VerifiedClientAssertion> {
  const verified = await checkClientAssertion(options);
  const consumeOptions: { now?: number; skewSeconds?: number } = {};
  if (options.now !== undefined) consumeOptions.now = options.now;
  if (options.skewSeconds !== undefined) consumeOptions.skewSeconds = options.skewSeconds;
  await consumeClientAssertion(verified, options.replay, consumeOptions);
  return verified;
}

export interface CreateClientAssertionOptions {
  privateKey: KeyObject;
  clientId: string;
  /** The authorization server's issuer identifier or its token endpoint URL. */
  audience: string;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  lifetimeSeconds?: number;
  kid?: string;
  jti?: string;
  /** Extra or overriding claims, for tests that forge a single defect. */
  claims?: JsonObject;
  header?: JsonObject;
}

/** Client side: a fresh assertion for one token request. */
export function createClientAssertion(options: CreateClientAssertionOptions): string {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: JsonObject = {
    iss: options.clientId,
    sub: options.clientId,
    aud: options.audience,
    iat,
    exp: iat + (options.lifetimeSeconds ?? 60),
    jti: options.jti ?? randomBytes(16).toString('base64url'),
  };
  const header: JsonObject = options.kid === undefined ? {} : { kid: options.kid };
  return signCompactJws({ ...header, ...options.header }, { ...claims, ...options.claims }, options.privateKey);
}
