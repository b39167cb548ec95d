/**
 * Authentication at the edge, assembled from the auth library: DPoP-bound access tokens on every
 * `/v1` route, and the token endpoint that issues them to clients proving their registered key.
 * Single-use values (proof ids, assertion ids) and server nonces live where every gateway replica
 * sees them: in process for the embedded profile, in Redis for production.
 */
import type { Scope, ServiceName } from '@msa-poc/contracts';
import type { CallerAssertionSigner } from '@msa-poc/platform/caller-assertion';
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
import { rateHeaders, type RateLimiter, type RatePolicy } from './rate-limit.js';

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
}

export type TokenOutcome =
  | { status: 200; body: TokenResponse; headers: Record<string, string> }
  | { status: 400 | 401 | 503; body: { error: string; error_description?: string }; headers: Record<string, string> };

/** RFC 9110's safe methods change nothing; every other request may. */
const changesState = (method: string): boolean => !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());

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
    const { origin, signer, replay, nonces, requireNonce } = this.#options;
    try {
      const principal = await authenticateResourceRequest({
        authorization: single(http.headers.authorization), dpopHeaderValues: values(http.headers.dpop), method: http.method, url: http.url,
        requiredScope: scope, tokens: signer, issuer: origin, audience: origin, replay, nonces, requireNonce, keyCache: this.#keys,
      });
      identifyCaller(principal.clientId);
      // Limited after authentication, so that a client cannot spend another's budget.
      const decision = await this.#options.limiter.take(principal.clientId, this.#options.policyOf(principal.clientId));
      const who = { actor: principal.clientId, keyThumbprint: principal.jkt, target: `${http.method} ${new URL(http.url).pathname}` };
      if (!decision.allowed) {
        this.#options.onRateLimited?.(decision.policy);
        this.#options.audit.record({ ...who, action: 'auth.request', outcome: 'refused', detail: 'rate limit exceeded' });
        throw new ProblemError('tooManyRequests', `Client ${principal.clientId} exceeded ${decision.policy.ratePerSecond} requests per second (burst ${decision.policy.burst}); retry after ${decision.retryAfterSeconds} s.`, { headers: rateHeaders(decision) });
      }
      const allowed = { ...who, action: 'auth.request', outcome: 'allowed', detail: `scope ${scope}` } as const;
      // A request that changes state is forwarded only once its permission is on the record.
      if (changesState(http.method)) {
        await this.#options.audit.recordDurably(allowed).catch((error: unknown) => {
          throw new ProblemError('unavailable', `${who.target} was not performed: it could not be audited (the audit trail is unavailable). Nothing was changed; retry shortly.`, { cause: error, headers: { 'retry-after': '1' } });
        });
      } else {
        this.#options.audit.record(allowed);
      }
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

  /** `POST /oauth/token`, answered as RFC 6749 says: a token, or an error object with its status. */
  async token(form: Record<string, string>, http: HttpView): Promise<TokenOutcome> {
    const { origin, signer, clients, replay, nonces, requireNonce, tokenLifetimeSeconds } = this.#options;
    const noStore = { 'cache-control': 'no-store' };
    try {
      const body = await handleTokenRequest({
        form, dpopHeaderValues: values(http.headers.dpop), url: `${origin}/oauth/token`, issuer: origin, audience: origin,
        clients, replay, nonces, requireNonce, signer, lifetimeSeconds: tokenLifetimeSeconds, keyCache: this.#keys,
      });
      // The token is handed out only once its issue is on the record.
      try {
        await this.#options.audit.recordDurably({ actor: form.client_id ?? clientOf(form.client_assertion), action: 'auth.token', outcome: 'allowed', detail: `scope ${body.scope}` });
      } catch {
        return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'No token was issued: the issue could not be audited (the audit trail is unavailable); retry shortly.' }, headers: { ...noStore, 'retry-after': '1' } };
      }
      return { status: 200, body, headers: noStore };
    } catch (error) {
      if (error instanceof OAuthError) this.#options.audit.record({ actor: clientOf(form.client_assertion), action: 'auth.token', outcome: 'refused', detail: `${error.error}: ${error.message}` });
      if (error instanceof OAuthError) return { status: error.status, body: error.body(), headers: { ...noStore, ...error.headers() } };
      return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'The client registry or replay store is unreachable; retry shortly.' }, headers: { ...noStore, 'retry-after': '1' } };
    }
  }
}
