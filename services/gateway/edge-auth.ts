/**
 * Authentication at the edge, assembled from the auth library: DPoP-bound access tokens on every
 * `/v1` route, and the token endpoint that issues them to clients proving their registered key.
 * Single-use values (proof ids, assertion ids) and server nonces live where every gateway replica
 * sees them: in process for the embedded profile, in Redis for production.
 */
import type { Scope, ServiceName } from '@msa-poc/contracts';
import { benchAssertion, benchUser, type CallerAssertionSigner } from '@msa-poc/platform/caller-assertion';
import { ProblemError } from '@msa-poc/platform/errors';
import type { HttpView } from '@msa-poc/platform/service';
import { currentContext } from '@msa-poc/platform/telemetry';
import { identifyCaller } from '@msa-poc/platform/tracing';
import type { AccessTokenSigner } from './auth/access-token.js';
import type { ClientDirectory } from './auth/client-assertion.js';
import { PublicKeyCache } from './auth/jwk.js';
import type { NonceStore } from './auth/nonces.js';
import { OAuthError } from './auth/oauth-error.js';
import type { ReplayGuard } from './auth/replay.js';
import { authenticateResourceRequest, ResourceAuthError, type Principal as ResourcePrincipal } from './auth/resource.js';
import { handleTokenRequest, type TokenResponse } from './auth/token-endpoint.js';
import type { SupportTokenResponse } from './auth/token-exchange.js';
import type { AuditTrail } from './audit.js';
import { isClientId } from './clients.js';
import { rateHeaders, type RateDecision, type RateLimiter, type RatePolicy } from './rate-limit.js';
import type { SupportGrants } from './support-grants.js';
import type { SupportSession } from './support-masking.js';

export interface Principal {
  readonly clientId: string;
  readonly keyThumbprint: string;
  readonly scopes: readonly string[];
  readonly customerId?: string;
  /** Present when a support engineer (`clientId`) acts for `customerId` under a grant. */
  readonly support?: { readonly grantId: string; readonly ticketId: string };
  /** The client's rate-limit state, for the response (RateLimit, RateLimit-Policy). */
  readonly headers: Readonly<Record<string, string>>;
  /** Headers that tell an internal service who asked: the gateway's signed caller assertion. */
  forwardTo(service: ServiceName): { 'caller-assertion': string };
}

export interface EdgeAuthOptions {
  /** The gateway's public origin: issuer of its tokens and base of every `htu`. */
  readonly origin: string;
  readonly signer: AccessTokenSigner;
  readonly clients: ClientDirectory;
  readonly replay: ReplayGuard;
  readonly nonces: NonceStore;
  readonly requireNonce: boolean;
  readonly tokenLifetimeSeconds: number;
  readonly limiter: RateLimiter;
  readonly policyOf: (clientId: string) => RatePolicy;
  readonly onRateLimited?: (policy: RatePolicy) => void;
  readonly audit: AuditTrail;
  readonly assertions: CallerAssertionSigner;
  readonly grants: SupportGrants;
  /** Epoch milliseconds (default `Date.now`): tokens, proofs and grants are judged by it. */
  readonly clock?: () => number;
  /**
   * False with the auth bench switch (POC_BENCH_DISABLE=auth): `/v1` requests are not
   * authenticated (no access token, no DPoP proof, no caller assertion signed) and act for
   * `benchUser`; they are still rate-limited, as client `bench`. The token endpoint still works.
   */
  readonly authenticate?: boolean;
}

export type TokenOutcome =
  | { status: 200; body: TokenResponse | SupportTokenResponse; headers: Record<string, string> }
  | { status: 400 | 401 | 503; body: { error: string; error_description?: string }; headers: Record<string, string> };

/** RFC 9110's safe methods change nothing; every other request may. */
const changesState = (method: string): boolean => !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());

const values = (header: string | string[] | undefined): string[] | undefined => (header === undefined ? undefined : Array.isArray(header) ? header : [header]);
const single = (header: string | string[] | undefined): string | undefined => (Array.isArray(header) ? header.join(', ') : header);

/** The claimed client of an assertion or a subject token, for the audit trail only (it is verified elsewhere). */
function clientOf(jwt: string | undefined): string | undefined {
  if (jwt === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown; client_id?: unknown };
    const client = claims.client_id ?? claims.iss;
    return isClientId(client) ? client : undefined;
  } catch {
    return undefined;
  }
}

/** The audit's note of a support token: for whom, under which grant and ticket. */
const actingFor = (principal: ResourcePrincipal): string =>
  (principal.support ? `; acting for customer ${principal.customerId ?? '?'} under grant ${principal.support.grantId} (ticket ${principal.support.ticketId})` : '');

export class EdgeAuth {
  readonly #options: EdgeAuthOptions;
  readonly #keys = new PublicKeyCache();
  /** Support sessions by request (its context object): what the response must be masked and audited for. */
  readonly #sessions = new WeakMap<object, SupportSession>();

  constructor(options: EdgeAuthOptions) {
    this.#options = options;
  }

  /**
   * The caller of a `/v1` request, or a ProblemError with the status and challenge RFC 9449 asks for.
   * Without a scope the route serves no customer data and takes no support token.
   */
  async authenticate(http: HttpView, scope?: Scope): Promise<Principal> {
    if (this.#options.authenticate === false) return this.#unauthenticated();
    const { origin, signer, replay, nonces, requireNonce, clock = Date.now } = this.#options;
    try {
      const principal = await authenticateResourceRequest({
        authorization: single(http.headers.authorization), dpopHeaderValues: values(http.headers.dpop), method: http.method, url: http.url,
        ...(scope === undefined ? {} : { requiredScope: scope }), tokens: signer, issuer: origin, audience: origin, replay, nonces, requireNonce, keyCache: this.#keys, now: clock(),
      });
      identifyCaller(principal.clientId);
      if (principal.support) {
        await this.#checkGrant(principal, scope, http);
        const request = currentContext();
        if (request) this.#sessions.set(request, { engineer: principal.clientId, keyThumbprint: principal.jkt, customerId: principal.customerId ?? '?', grantId: principal.support.grantId, ticketId: principal.support.ticketId });
      }
      const who = { actor: principal.clientId, keyThumbprint: principal.jkt, target: `${http.method} ${new URL(http.url).pathname}` };
      // Limited after authentication, so that a client cannot spend another's budget.
      const decision = await this.#rateLimit(principal.clientId, () => this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'refused', detail: 'rate limit exceeded' }));
      const allowed = { ...who, action: 'auth.request', outcome: 'allowed', detail: `scope ${scope ?? 'none'}${actingFor(principal)}` } as const;
      // A request that changes state is forwarded only once its permission is on the record.
      if (changesState(http.method)) {
        await this.#options.audit.recordDurably(allowed).catch((error: unknown) => {
          throw new ProblemError('unavailable', `${who.target} was not performed: it could not be audited (the audit trail is unavailable). Nothing was changed; retry shortly.`, { cause: error, headers: { 'retry-after': '1' } });
        });
      } else if (!principal.support) {
        // A support request's record is written when its response is served (support-masking.ts), with what it served.
        this.#options.audit.record(allowed);
      }
      const user = {
        clientId: principal.clientId, keyThumbprint: principal.jkt, scopes: principal.scopes,
        ...(principal.customerId ? { customerId: principal.customerId } : {}), ...(principal.support ? { supportGrantId: principal.support.grantId } : {}),
      };
      return { ...user, ...(principal.support ? { support: principal.support } : {}), headers: rateHeaders(decision), forwardTo: (service) => ({ 'caller-assertion': this.#options.assertions.sign(user, service) }) };
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      if (error instanceof ResourceAuthError) {
        this.#options.audit.record({ actor: 'anonymous', action: 'auth.request', outcome: 'refused', target: `${http.method} ${new URL(http.url).pathname}`, detail: `${error.error ?? 'no credentials'}: ${error.description}` });
        throw new ProblemError(error.status === 403 ? 'insufficientScope' : 'unauthenticated', error.description, { headers: error.headers() });
      }
      throw new ProblemError('unavailable', 'Authentication state is unreachable (replay or nonce store); retry shortly.', { cause: error });
    }
  }

  /** The support session of the request being handled: set once its support token and grant were accepted. */
  supportSession(): SupportSession | undefined {
    const request = currentContext();
    return request ? this.#sessions.get(request) : undefined;
  }

  /** The bench client, rate-limited like any other; no authentication decision is made, so none is audited. */
  async #unauthenticated(): Promise<Principal> {
    const decision = await this.#rateLimit(benchUser.clientId);
    return { ...benchUser, headers: rateHeaders(decision), forwardTo: () => ({ 'caller-assertion': benchAssertion }) };
  }

  /** Takes one request from `clientId`'s budget, or refuses it with 429 (`onRefused` first). */
  async #rateLimit(clientId: string, onRefused?: () => void): Promise<RateDecision> {
    const decision = await this.#options.limiter.take(clientId, this.#options.policyOf(clientId));
    if (decision.allowed) return decision;
    this.#options.onRateLimited?.(decision.policy);
    onRefused?.();
    throw new ProblemError('tooManyRequests', `Client ${clientId} exceeded ${decision.policy.ratePerSecond} requests per second (burst ${decision.policy.burst}); retry after ${decision.retryAfterSeconds} s.`, { headers: rateHeaders(decision) });
  }

  /** A support token works only on customer-data routes, and only while its grant is live. */
  async #checkGrant(principal: ResourcePrincipal, scope: Scope | undefined, http: HttpView): Promise<void> {
    const support = principal.support as NonNullable<ResourcePrincipal['support']>;
    const who = { actor: principal.clientId, keyThumbprint: principal.jkt, target: `${http.method} ${new URL(http.url).pathname}` };
    if (scope === undefined) {
      this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'refused', detail: `support token${actingFor(principal)} used on a route outside its grant` });
      throw new ProblemError('supportTokenRefused', 'A support token reads customer data only; use your own access token for this route.');
    }
    if (!(await this.#options.grants.isLive(support.grantId, principal.clientId))) {
      this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'refused', detail: `support grant no longer live${actingFor(principal)}` });
      const refused = new ResourceAuthError('invalid_token', `support grant ${support.grantId} is no longer live (revoked or expired); ask for access again`);
      throw new ProblemError('unauthenticated', refused.description, { headers: refused.headers() });
    }
  }

  /** `POST /oauth/token`, answered as RFC 6749 says: a token, or an error object with its status. */
  async token(form: Record<string, string>, http: HttpView): Promise<TokenOutcome> {
    const { origin, signer, clients, replay, nonces, requireNonce, tokenLifetimeSeconds, grants, clock = Date.now } = this.#options;
    const noStore = { 'cache-control': 'no-store' };
    try {
      const body = await handleTokenRequest({
        form, dpopHeaderValues: values(http.headers.dpop), url: `${origin}/oauth/token`, issuer: origin, audience: origin,
        clients, replay, nonces, requireNonce, signer, lifetimeSeconds: tokenLifetimeSeconds, keyCache: this.#keys, grants, now: clock(),
      });
      // The token is handed out only once its issue is on the record.
      try {
        await this.#options.audit.recordDurably({ actor: form.client_id ?? clientOf(form.client_assertion) ?? clientOf(form.subject_token) ?? 'anonymous', action: form.subject_token ? 'support.exchange' : 'auth.token', outcome: 'allowed', detail: `scope ${body.scope}${form.subject_token ? `; ${form.authorization_details ?? ''}`.slice(0, 300) : ''}` });
      } catch {
        return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'No token was issued: the issue could not be audited (the audit trail is unavailable); retry shortly.' }, headers: { ...noStore, 'retry-after': '1' } };
      }
      return { status: 200, body, headers: noStore };
    } catch (error) {
      if (error instanceof OAuthError) this.#options.audit.record({ actor: clientOf(form.client_assertion) ?? clientOf(form.subject_token) ?? 'anonymous', action: form.subject_token ? 'support.exchange' : 'auth.token', outcome: 'refused', detail: `${error.error}: ${error.message}`.slice(0, 500) });
      if (error instanceof OAuthError) return { status: error.status, body: error.body(), headers: { ...noStore, ...error.headers() } };
      return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'The client registry or replay store is unreachable; retry shortly.' }, headers: { ...noStore, 'retry-after': '1' } };
    }
  }
}
