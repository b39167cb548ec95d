/**
 * `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4) with `private_key_jwt` client
 * authentication (RFC 7523) and a DPoP proof (RFC 9449 §5), answered with a DPoP-bound RFC 9068
 * access token. Framework-free: the gateway route parses the form, calls this, and writes either
 * the response or `OAuthError.body()` with `OAuthError.status` and `OAuthError.headers()`.
 */
import type { AccessTokenSigner } from './access-token.js';
import { checkClientAssertion, consumeClientAssertion, type ClientDirectory } from './client-assertion.js';
import { DpopError, dpopPolicyOf, verifyDpopProof, type VerifiedDpopProof } from './dpop.js';
import type { PublicKeyCache } from './jwk.js';
import type { NonceStore } from './nonces.js';
import { OAuthError } from './oauth-error.js';
import type { ReplayGuard } from './replay.js';
import { exchangeForSupportToken, tokenExchangeGrantType, type SupportGrantLookup, type SupportTokenResponse } from './token-exchange.js';

export interface TokenRequest {
  /** The decoded `application/x-www-form-urlencoded` body; the route refuses repeated parameters. */
  form: Record<string, string>;
  /** Every value of the `DPoP` request header. */
  dpopHeaderValues: string[] | undefined;
  /** The token endpoint's public URL, from configuration rather than from the Host header. */
  url: string;
  /** This authorization server's issuer identifier (`iss` of its tokens). */
  issuer: string;
  /** The API the tokens are for (`aud` of its tokens). */
  audience: string;
  clients: ClientDirectory;
  replay: ReplayGuard;
  nonces?: NonceStore;
  requireNonce?: boolean;
  signer: Pick<AccessTokenSigner, 'issueAccessToken' | 'verifyAccessToken'>;
  /** Support grants, for the token exchange; without them only client credentials are served. */
  grants?: SupportGrantLookup;
  /** Epoch milliseconds (default `Date.now()`). */
  now?: number;
  /** Access token lifetime, at most 600 s (default 300 s). */
  lifetimeSeconds?: number;
  /** DPoP `iat` window, either way (default 60 s). */
  skewSeconds?: number;
  keyCache?: PublicKeyCache;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'DPoP';
  expires_in: number;
  scope: string;
}

/** scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3). */
const scopeTokenPattern = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The requested scopes, which must all be registered; none requested means all registered. */
export function grantScopes(requested: string | undefined, registered: readonly string[]): string[] {
  if (requested === undefined) {
    if (registered.length === 0) throw new OAuthError('invalid_scope', 'this client has no scopes registered');
    return [...new Set(registered)];
  }
  const tokens = requested.split(' ');
  if (!tokens.every((token) => scopeTokenPattern.test(token))) throw new OAuthError('invalid_scope', 'scope is malformed: scope tokens separated by single spaces');
  const outside = tokens.filter((token) => !registered.includes(token));
  if (outside.length > 0) throw new OAuthError('invalid_scope', `scope not registered for this client: ${outside.join(' ')}`);
  return [...new Set(tokens)];
}

/** Resolves to the token response, or rejects with an `OAuthError` (anything else is a 5xx). */
export async function handleTokenRequest(request: TokenRequest): Promise<TokenResponse | SupportTokenResponse> {
  const { form, now = Date.now() } = request;
  const lifetimeSeconds = request.lifetimeSeconds ?? 300;

  // No shared secrets exist here; one sent anyway is refused rather than ignored, so the client learns.
  if (form.client_secret !== undefined) throw new OAuthError('invalid_client', 'client secrets are not accepted: authenticate with private_key_jwt');
  if (form.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type missing');
  if (form.grant_type === tokenExchangeGrantType && request.grants !== undefined) {
    return exchangeForSupportToken({ ...request, grants: request.grants, now });
  }
  if (form.grant_type !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', request.grants ? `only grant_type=client_credentials and ${tokenExchangeGrantType} are supported` : 'only grant_type=client_credentials is supported');
  }

  const assertion = await checkClientAssertion({
    assertionType: form.client_assertion_type,
    assertion: form.client_assertion,
    clientId: form.client_id,
    tokenEndpoint: request.url,
    issuer: request.issuer,
    clients: request.clients,
    now,
    ...(request.keyCache === undefined ? {} : { keyCache: request.keyCache }),
  });
  const scopes = grantScopes(form.scope, assertion.client.scopes);

  let proof: VerifiedDpopProof;
  try {
    proof = await verifyDpopProof({
      headerValues: request.dpopHeaderValues,
      method: 'POST',
      url: request.url,
      now,
      ...dpopPolicyOf(request),
    });
  } catch (error) {
    if (error instanceof DpopError) throw new OAuthError(error.code, error.description, error.nonce);
    throw error;
  }
  // Consumed last, so an assertion sent with a proof that lacked a nonce can be sent again.
  await consumeClientAssertion(assertion, request.replay, { now });

  const scope = scopes.join(' ');
  const accessToken = request.signer.issueAccessToken({
    clientId: assertion.client.id,
    ...(assertion.client.customerId ? { customerId: assertion.client.customerId } : {}),
    scope,
    jkt: proof.jkt,
    lifetimeSeconds,
    issuer: request.issuer,
    audience: request.audience,
    now,
  });
  return { access_token: accessToken, token_type: 'DPoP', expires_in: lifetimeSeconds, scope };
}
