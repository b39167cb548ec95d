/**
 * The end user behind an internal call. The gateway authenticates the API client, then tells the
 * service it calls who that client is in a short-lived assertion signed with the gateway's own
 * Ed25519 key. The callee trusts the assertion only because the signature verifies with the
 * gateway's public key AND the connection's certificate says the caller is the gateway; a plain
 * header naming a client would be trusted by anyone who can reach the service.
 */
import type { KeyObject } from 'node:crypto';
import { spiffeId, type ServiceName } from '@msa-poc/contracts';
import { ProblemError } from './errors.js';
import { JwsError, parseCompactJws, signCompactJws, verifyJws } from './jws.js';

/** Who asked, as the edge established it. */
export interface EndUser {
  readonly clientId: string;
  /** RFC 7638 thumbprint of the key the client proved possession of. */
  readonly keyThumbprint: string;
  readonly scopes: readonly string[];
  /** Present for a customer-scoped client: it acts for this customer only. */
  readonly customerId?: string;
  /** Present for a support engineer acting for `customerId` under this grant (a support token). */
  readonly supportGrantId?: string;
}

const assertionType = 'caller+jwt';
/** Long enough for one request's retries, short enough that a copied assertion is soon useless. */
export const assertionLifetimeSeconds = 30;
const clockSkewSeconds = 5;
const maxAssertionLength = 2048;

/**
 * Signing and verifying an Ed25519 assertion costs about 35 and 100 µs of CPU (3 × 3,000 calls,
 * this 2-core machine), on every request the gateway forwards. An assertion names the user and the
 * audience, not the request (the request id travels in x-request-id), so the same one serves all
 * of a user's requests to a service for a while, and the callee verifies each string once.
 */
export const assertionReuseMs = 10_000;
/** Users (signer) or assertions (verifier) remembered at most; past it, the oldest is forgotten. */
const cacheLimit = 1_024;

/** Remembers `value` under `key`, forgetting the oldest entry when the cache is full. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  if (cache.size >= cacheLimit) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}

export class CallerAssertionSigner {
  readonly #issuer: string;
  readonly #signed = new Map<string, { readonly assertion: string; readonly reuseUntil: number }>();

  constructor(private readonly key: KeyObject, issuer: ServiceName) {
    this.#issuer = spiffeId(issuer);
  }

  /**
   * An assertion of `user` for `audience`: the one signed for them less than `assertionReuseMs`
   * ago, so that it has at least 20 of its 30 s left, or a new one.
   */
  sign(user: EndUser, audience: ServiceName, now = Date.now()): string {
    const key = [audience, user.clientId, user.keyThumbprint, user.scopes.join(' '), user.customerId ?? '', user.supportGrantId ?? ''].join('\n');
    const cached = this.#signed.get(key);
    if (cached && now < cached.reuseUntil && now >= cached.reuseUntil - assertionReuseMs) return cached.assertion;
    const iat = Math.floor(now / 1000);
    const assertion = signCompactJws(
      { typ: assertionType },
      {
        iss: this.#issuer, aud: spiffeId(audience), sub: user.clientId, jkt: user.keyThumbprint, scope: user.scopes.join(' '),
        ...(user.customerId ? { customer_id: user.customerId } : {}), ...(user.supportGrantId ? { support_grant: user.supportGrantId } : {}), iat, exp: iat + assertionLifetimeSeconds,
      },
      this.key,
    );
    remember(this.#signed, key, { assertion, reuseUntil: iat * 1000 + assertionReuseMs });
    return assertion;
  }
}

/** Who asked, from the assertion a request carries. */
export interface CallerVerifier {
  verify(assertion: string | undefined): EndUser;
}

/**
 * With the auth bench switch off (POC_BENCH_DISABLE=auth) the gateway authenticates nobody: every
 * request acts for this client, with both scopes and for every customer.
 */
export const benchUser: EndUser = { clientId: 'bench', keyThumbprint: 'unauthenticated', scopes: ['orders:read', 'orders:write'] };

/** What the gateway sends in place of a signed assertion with auth off: well-formed, unsigned, naming nobody. */
export const benchAssertion = 'bench.unauthenticated.unsigned';

/** The verifier of a service with auth off: nothing is checked, every request acts for `benchUser`. */
export const benchCallers: CallerVerifier = { verify: () => benchUser };

export class CallerAssertionVerifier implements CallerVerifier {
  readonly #issuer: string;
  readonly #audience: string;
  readonly #verified = new Map<string, VerifiedAssertion>();

  constructor(private readonly key: KeyObject, issuer: ServiceName, audience: ServiceName) {
    this.#issuer = spiffeId(issuer);
    this.#audience = spiffeId(audience);
  }

  /** The end user, or a 401 problem that says which check failed. */
  verify(assertion: string | undefined, now = Date.now()): EndUser {
    if (!assertion) throw refused('the request carries no caller assertion; only the gateway, which signs one, may call this route');
    // Only an assertion whose signature and claims checked out is remembered; its time is checked on every use.
    const known = this.#verified.get(assertion) ?? this.#check(assertion);
    const seconds = now / 1000;
    if (known.exp + clockSkewSeconds < seconds) {
      this.#verified.delete(assertion);
      throw refused('caller assertion has expired');
    }
    if (known.iat - clockSkewSeconds > seconds) throw refused('caller assertion is issued in the future');
    return known.user;
  }

  /** Checks everything but the time, and remembers the outcome by the assertion's exact text. */
  #check(assertion: string): VerifiedAssertion {
    let claims: Record<string, unknown>;
    try {
      const jws = parseCompactJws(assertion, maxAssertionLength);
      if (jws.header.typ !== assertionType) throw new JwsError(`typ must be ${assertionType}`);
      if (jws.alg !== 'EdDSA' || !verifyJws(jws, this.key)) throw new JwsError('signature does not verify with the gateway key');
      claims = jws.payload;
    } catch (error) {
      throw refused(`caller assertion refused: ${(error as Error).message}`);
    }
    if (claims.iss !== this.#issuer) throw refused(`caller assertion issued by ${String(claims.iss)}, not ${this.#issuer}`);
    if (claims.aud !== this.#audience) throw refused(`caller assertion is for ${String(claims.aud)}, not ${this.#audience}`);
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') throw refused('caller assertion lacks iat or exp');
    if (claims.exp - claims.iat > assertionLifetimeSeconds) throw refused(`caller assertion lives longer than ${assertionLifetimeSeconds} s`);
    const { sub, jkt, scope, customer_id: customerId, support_grant: supportGrantId } = claims;
    if (typeof sub !== 'string' || typeof jkt !== 'string' || typeof scope !== 'string') throw refused('caller assertion lacks sub, jkt or scope');
    if (customerId !== undefined && typeof customerId !== 'string') throw refused('caller assertion has a malformed customer_id');
    if (supportGrantId !== undefined && (typeof supportGrantId !== 'string' || customerId === undefined)) throw refused('caller assertion has a support_grant without a customer_id');
    const user = { clientId: sub, keyThumbprint: jkt, scopes: scope.split(' ').filter(Boolean), ...(customerId ? { customerId } : {}), ...(supportGrantId ? { supportGrantId } : {}) };
    const verified = { user, iat: claims.iat, exp: claims.exp };
    remember(this.#verified, assertion, verified);
    return verified;
  }
}

interface VerifiedAssertion {
  readonly user: EndUser;
  readonly iat: number;
  readonly exp: number;
}

const refused = (detail: string): ProblemError => new ProblemError('unauthenticated', detail);
