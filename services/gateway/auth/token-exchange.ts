/**
 * The support token: RFC 8693 token exchange at `/oauth/token`. A support engineer presents its own
 * DPoP-bound access token (`subject_token`), a DPoP proof by the same key, and the grant it wants
 * to act under (RFC 9396 `authorization_details`). With an approved, live grant it receives a token
 * for the grant's customer (`sub`), naming the engineer as the actor (`act`), bound to the same key,
 * that expires within five minutes and never after the grant.
 */
import type { SupportGrant } from '@msa-poc/contracts';
import { AccessTokenError, supportDetailType, type AccessTokenClaims } from './access-token.js';
import { DpopError, dpopPolicyOf, verifyDpopProof } from './dpop.js';
import { OAuthError } from './oauth-error.js';
import type { TokenRequest } from './token-endpoint.js';

export const tokenExchangeGrantType = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
/** However long the grant still runs, a support token lives at most this long. */
export const maxSupportTokenSeconds = 300;

/** Where the token endpoint reads grants: the store, through the gateway. */
export interface SupportGrantLookup {
  find(id: string): Promise<SupportGrant | undefined>;
}

/** A token request of this grant type: the grants to read, and the time to judge them by, are required. */
export type TokenExchangeRequest = Omit<TokenRequest, 'grants' | 'now' | 'lifetimeSeconds'> & { grants: SupportGrantLookup; now: number };

export interface SupportTokenResponse {
  access_token: string;
  token_type: 'DPoP';
  expires_in: number;
  scope: string;
  issued_token_type: typeof accessTokenType;
}

const grantIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The grant named in `authorization_details`: one entry of type `support_access` with a `grant_id`. */
function requestedGrant(details: string | undefined): string {
  const usage = `authorization_details must be [{"type":"${supportDetailType}","grant_id":"<approved grant id>"}]`;
  if (details === undefined) throw new OAuthError('invalid_authorization_details', `authorization_details missing: ${usage}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(details);
  } catch {
    throw new OAuthError('invalid_authorization_details', `authorization_details is not JSON: ${usage}`);
  }
  const entry = Array.isArray(parsed) && parsed.length === 1 ? (parsed[0] as Record<string, unknown> | null) : undefined;
  if (!entry || entry.type !== supportDetailType || typeof entry.grant_id !== 'string' || !grantIdPattern.test(entry.grant_id)) {
    throw new OAuthError('invalid_authorization_details', usage);
  }
  return entry.grant_id;
}

/** Why a grant gives no access now, or undefined when it does. */
function refusal(grant: SupportGrant, engineer: string, now: number): string | undefined {
  if (grant.requester !== engineer) return `grant ${grant.id} was requested by another client`;
  switch (grant.status) {
    case 'pending':
      return `grant ${grant.id} is pending: a support lead must approve it first`;
    case 'rejected':
      return `grant ${grant.id} was rejected by ${grant.decidedBy ?? 'a support lead'}`;
    case 'revoked':
      return `grant ${grant.id} was revoked at ${grant.revokedAt ?? 'an earlier time'}`;
    case 'expired':
      return `grant ${grant.id} expired at ${grant.expiresAt ?? 'an earlier time'}`;
    case 'approved':
      return grant.expiresAt === undefined || Date.parse(grant.expiresAt) <= now ? `grant ${grant.id} expired at ${grant.expiresAt ?? 'an unknown time'}` : undefined;
  }
}

export async function exchangeForSupportToken(request: TokenExchangeRequest): Promise<SupportTokenResponse> {
  const { form, now } = request;
  if (form.subject_token === undefined) throw new OAuthError('invalid_request', 'subject_token missing: send your own DPoP-bound access token');
  if (form.subject_token_type !== accessTokenType) throw new OAuthError('invalid_request', `subject_token_type must be ${accessTokenType}`);
  if (form.requested_token_type !== undefined && form.requested_token_type !== accessTokenType) throw new OAuthError('invalid_request', `requested_token_type can only be ${accessTokenType}`);
  const grantId = requestedGrant(form.authorization_details);

  let subject: AccessTokenClaims;
  try {
    subject = request.signer.verifyAccessToken(form.subject_token, { issuer: request.issuer, audience: request.audience, now });
  } catch (error) {
    if (error instanceof AccessTokenError) throw new OAuthError('invalid_grant', `subject_token refused: ${error.message}`);
    throw error;
  }
  if (subject.act !== undefined) throw new OAuthError('invalid_grant', 'a support token cannot be exchanged again: exchange your own access token');
  try {
    // The same key that holds the subject token: a stolen token alone exchanges for nothing.
    await verifyDpopProof({ headerValues: request.dpopHeaderValues, method: 'POST', url: request.url, expectedJkt: subject.cnf.jkt, now, ...dpopPolicyOf(request) });
  } catch (error) {
    if (error instanceof DpopError) throw new OAuthError(error.code, error.description, error.nonce);
    throw error;
  }
  const engineer = await request.clients.find(subject.client_id);
  if (engineer === undefined) throw new OAuthError('invalid_grant', `client ${subject.client_id} is no longer registered`);
  if (!engineer.roles?.includes('support')) throw new OAuthError('invalid_grant', `client ${subject.client_id} does not have the support role (any more)`);

  const grant = await request.grants.find(grantId);
  if (grant === undefined) throw new OAuthError('invalid_grant', `no access request ${grantId}`);
  const refused = refusal(grant, subject.client_id, now);
  if (refused !== undefined) throw new OAuthError('invalid_grant', refused);

  const lifetimeSeconds = Math.min(maxSupportTokenSeconds, Math.floor((Date.parse(grant.expiresAt as string) - now) / 1000));
  if (lifetimeSeconds < 1) throw new OAuthError('invalid_grant', `grant ${grant.id} expires at ${grant.expiresAt}, too soon for a token`);
  const scope = grant.actions.join(' ');
  const accessToken = request.signer.issueAccessToken({
    clientId: subject.client_id, customerId: grant.customerId, scope, jkt: subject.cnf.jkt, lifetimeSeconds, issuer: request.issuer, audience: request.audience, now,
    support: { customer: grant.customerId, actions: [...grant.actions], ticket: grant.ticketId, grant_id: grant.id },
  });
  return { access_token: accessToken, token_type: 'DPoP', expires_in: lifetimeSeconds, scope, issued_token_type: accessTokenType };
}
