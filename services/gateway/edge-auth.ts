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
import { authenticateResourceRequest, ResourceAuthError } from './auth/resource.js';
import { handleTokenRequest, type TokenResponse } from './auth/token-endpoint.js';
import type { AuditTrail } from './audit.js';
import { isClientId } from './clients.js';
import { rateHeaders, type RateDecision, type RateLimiter, type RatePolicy } from './rate-limit.js';

export interface Principal {
  readonly clientId: string;
  readonly keyThumbprint: string;
  readonly scopes: readonly string[];
  readonly customerId?: string;
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
  /**
   * False with the auth bench switch (POC_BENCH_DISABLE=auth): `/v1` requests are not
   * authenticated (no access token, no DPoP proof, no caller assertion signed) and act for
   * `benchUser`; they are still rate-limited, as client `bench`. The token endpoint still works.
   */
  readonly authenticate?: boolean;
}

export type TokenOutcome =
  | { status: 200; body: TokenResponse; headers: Record<string, string> }
  | { status: 400 | 401 | 503; body: { error: string; error_description?: string }; headers: Record<string, string> };

const values = (header: string | string[] | undefined): string[] | undefined => (header === undefined ? undefined : Array.isArray(header) ? header : [header]);
const single = (header: string | string[] | undefined): string | undefined => (Array.isArray(header) ? header.join(', ') : header);

/** The claimed client of an assertion, for the audit trail only (it is verified elsewhere). */
function clientOf(assertion: string | undefined): string {
  try {
    const claims = JSON.parse(Buffer.from(String(assertion).split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown };
    return isClientId(claims.iss) ? claims.iss : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

export class EdgeAuth {
  readonly #options: EdgeAuthOptions;
  readonly #keys = new PublicKeyCache();

  constructor(options: EdgeAuthOptions) {
    this.#options = options;
  }

  /** The caller of a `/v1` request, or a ProblemError with the status and challenge RFC 9449 asks for. */
  async authenticate(http: HttpView, scope: Scope): Promise<Principal> {
    if (this.#options.authenticate === false) return this.#unauthenticated();
    const { origin, signer, replay, nonces, requireNonce } = this.#options;
    try {
      const principal = await authenticateResourceRequest({
        authorization: single(http.headers.authorization), dpopHeaderValues: values(http.headers.dpop), method: http.method, url: http.url,
        requiredScope: scope, tokens: signer, issuer: origin, audience: origin, replay, nonces, requireNonce, keyCache: this.#keys,
      });
      identifyCaller(principal.clientId);
      const who = { actor: principal.clientId, keyThumbprint: principal.jkt, target: `${http.method} ${new URL(http.url).pathname}` };
      // Limited after authentication, so that a client cannot spend another's budget.
      const decision = await this.#rateLimit(principal.clientId, () => this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'refused', detail: 'rate limit exceeded' }));
      this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'allowed', detail: `scope ${scope}` });
      const user = { clientId: principal.clientId, keyThumbprint: principal.jkt, scopes: principal.scopes, ...(principal.customerId ? { customerId: principal.customerId } : {}) };
      const requestId = currentContext()?.requestId ?? 'none';
      return { ...user, headers: rateHeaders(decision), forwardTo: (service) => ({ 'caller-assertion': this.#options.assertions.sign(user, service, requestId) }) };
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      if (error instanceof ResourceAuthError) {
        this.#options.audit.record({ actor: 'anonymous', action: 'auth.request', outcome: 'refused', target: `${http.method} ${new URL(http.url).pathname}`, detail: `${error.error ?? 'no credentials'}: ${error.description}` });
        throw new ProblemError(error.status === 403 ? 'insufficientScope' : 'unauthenticated', error.description, { headers: error.headers() });
      }
      throw new ProblemError('unavailable', 'Authentication state is unreachable (replay or nonce store); retry shortly.', { cause: error });
    }
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

  /** `POST /oauth/token`, answered as RFC 6749 says: a token, or an error object with its status. */
  async token(form: Record<string, string>, http: HttpView): Promise<TokenOutcome> {
    const { origin, signer, clients, replay, nonces, requireNonce, tokenLifetimeSeconds } = this.#options;
    const noStore = { 'cache-control': 'no-store' };
    try {
      const body = await handleTokenRequest({
        form, dpopHeaderValues: values(http.headers.dpop), url: `${origin}/oauth/token`, issuer: origin, audience: origin,
        clients, replay, nonces, requireNonce, signer, lifetimeSeconds: tokenLifetimeSeconds, keyCache: this.#keys,
      });
      this.#options.audit.record({ actor: form.client_id ?? clientOf(form.client_assertion), action: 'auth.token', outcome: 'allowed', detail: `scope ${body.scope}` });
      return { status: 200, body, headers: noStore };
    } catch (error) {
      if (error instanceof OAuthError) this.#options.audit.record({ actor: clientOf(form.client_assertion), action: 'auth.token', outcome: 'refused', detail: `${error.error}: ${error.message}` });
      if (error instanceof OAuthError) return { status: error.status, body: error.body(), headers: { ...noStore, ...error.headers() } };
      return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'The client registry or replay store is unreachable; retry shortly.' }, headers: { ...noStore, 'retry-after': '1' } };
    }
  }
}
