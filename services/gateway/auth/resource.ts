/**
 * Authentication of an API request: a DPoP-bound access token in `Authorization: DPoP …` plus a
 * fresh proof in `DPoP` (RFC 9449 §7), then the route's scope. Failures carry the status and the
 * exact `WWW-Authenticate` challenge to send (RFC 9449 §7.1, RFC 6750 §3).
 */
import type { AccessTokenClaims, AccessTokenSigner, VerifyAccessTokenOptions } from './access-token.js';
import { AccessTokenError } from './access-token.js';
import { DpopError, dpopPolicyOf, verifyDpopProof, type VerifiedDpopProof } from './dpop.js';
import type { PublicKeyCache } from './jwk.js';
import type { NonceStore } from './nonces.js';
import { safeDescription } from './oauth-error.js';
import type { ReplayGuard } from './replay.js';

/** Advertised in every challenge, so a client knows which keys it may prove with. */
export const dpopAlgs = 'ES256 EdDSA';

export type ResourceErrorCode = 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce' | 'insufficient_scope';

export interface ChallengeParameters {
  error?: ResourceErrorCode;
  description?: string;
  scope?: string;
}

/** A `WWW-Authenticate: DPoP …` value; parameter values are reduced to what a quoted-string may hold unescaped. */
export function dpopChallenge(parameters: ChallengeParameters = {}): string {
  const parts: string[] = [];
  if (parameters.error !== undefined) parts.push(`error="${parameters.error}"`);
  if (parameters.description !== undefined) parts.push(`error_description="${safeDescription(parameters.description)}"`);
  if (parameters.scope !== undefined) parts.push(`scope="${safeDescription(parameters.scope)}"`);
  parts.push(`algs="${dpopAlgs}"`);
  return `DPoP ${parts.join(', ')}`;
}

export class ResourceAuthError extends Error {
  override name = 'ResourceAuthError';
  readonly status: 401 | 403;
  readonly wwwAuthenticate: string;
  /** With `use_dpop_nonce`: the nonce for the `DPoP-Nonce` response header. */
  readonly dpopNonce: string | undefined;

  constructor(
    /** Undefined when the request carried no credentials at all (RFC 6750 §3.1). */
    readonly error: ResourceErrorCode | undefined,
    readonly description: string,
    options: { scope?: string; dpopNonce?: string } = {},
  ) {
    super(`${error ?? 'unauthenticated'}: ${description}`);
    this.status = error === 'insufficient_scope' ? 403 : 401;
    this.dpopNonce = options.dpopNonce;
    const challenge: ChallengeParameters = { description };
    if (error !== undefined) challenge.error = error;
    if (options.scope !== undefined) challenge.scope = options.scope;
    this.wwwAuthenticate = dpopChallenge(challenge);
  }

  headers(): Record<string, string> {
    const headers: Record<string, string> = { 'www-authenticate': this.wwwAuthenticate };
    if (this.dpopNonce !== undefined) headers['dpop-nonce'] = this.dpopNonce;
    return headers;
  }
}

export interface Principal {
  clientId: string;
  /** Thumbprint of the key that proved possession on this request. */
  jkt: string;
  scopes: string[];
  /** `jti` of the access token, for the audit trail. */
  tokenId: string;
  /** `exp` of the access token, seconds since the epoch. */
  expiresAt: number;
  /** The one customer a customer-scoped client, or a support engineer under a grant, acts for. */
  customerId?: string;
  /** Present for a support token: the grant the engineer (`clientId`) acts under. */
  support?: { grantId: string; ticketId: string };
}

export interface ResourceRequest {
  /** The `Authorization` header, if any. */
  authorization: string | undefined;
  /** Every value of the `DPoP` header. */
  dpopHeaderValues: string[] | undefined;
  method: string;
  /** The absolute URL of the request: the configured public origin plus the request target. */
  url: string;
  /** The scope this route needs, if any. */
  requiredScope?: string;
  tokens: Pick<AccessTokenSigner, 'verifyAccessToken'>;
  issuer: string;
  audience: string;
  replay: ReplayGuard;
  nonces?: NonceStore;
  requireNonce?: boolean;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  skewSeconds?: number;
  keyCache?: PublicKeyCache;
}

const authorizationPattern = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/;
const token68Pattern = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Resolves to the caller, or rejects with a `ResourceAuthError` (anything else is a 5xx). */
export async function authenticateResourceRequest(request: ResourceRequest): Promise<Principal> {
  const now = request.now ?? Date.now();
  const match = request.authorization === undefined ? null : authorizationPattern.exec(request.authorization.trim());
  if (match === null) throw new ResourceAuthError(undefined, 'a DPoP-bound access token is required');
  const scheme = (match[1] as string).toLowerCase();
  const token = match[2]?.trim() ?? '';
  // Every token this gateway issues is DPoP-bound; accepting one as Bearer would drop the proof (§7.1).
  if (scheme === 'bearer') throw new ResourceAuthError('invalid_token', 'DPoP-bound access tokens must be sent with the DPoP scheme, not Bearer');
  if (scheme !== 'dpop') throw new ResourceAuthError(undefined, 'a DPoP-bound access token is required');
  if (!token68Pattern.test(token)) throw new ResourceAuthError('invalid_token', 'malformed access token');

  const verifyOptions: VerifyAccessTokenOptions = { issuer: request.issuer, audience: request.audience, now };
  let claims: AccessTokenClaims;
  try {
    claims = request.tokens.verifyAccessToken(token, verifyOptions);
  } catch (error) {
    if (error instanceof AccessTokenError) throw new ResourceAuthError('invalid_token', error.message);
    throw error;
  }

  let proof: VerifiedDpopProof;
  try {
    proof = await verifyDpopProof({
      headerValues: request.dpopHeaderValues,
      method: request.method,
      url: request.url,
      accessToken: token,
      expectedJkt: claims.cnf.jkt,
      now,
      ...dpopPolicyOf(request),
    });
  } catch (error) {
    if (error instanceof DpopError) {
      throw new ResourceAuthError(error.code, error.description, error.nonce === undefined ? {} : { dpopNonce: error.nonce });
    }
    throw error;
  }

  const scopes = claims.scope === '' ? [] : claims.scope.split(' ');
  if (request.requiredScope !== undefined && !scopes.includes(request.requiredScope)) {
    throw new ResourceAuthError('insufficient_scope', `this request needs the scope ${request.requiredScope}`, { scope: request.requiredScope });
  }
  const grant = claims.authorization_details?.[0];
  return {
    clientId: claims.client_id, jkt: proof.jkt, scopes, tokenId: claims.jti, expiresAt: claims.exp,
    ...(claims.customer_id ? { customerId: claims.customer_id } : {}),
    ...(grant ? { support: { grantId: grant.grant_id, ticketId: grant.ticket } } : {}),
  };
}
