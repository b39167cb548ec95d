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

export class CallerAssertionSigner {
  readonly #issuer: string;

  constructor(private readonly key: KeyObject, issuer: ServiceName) {
    this.#issuer = spiffeId(issuer);
  }

  /** An assertion for one request to `audience`; `requestId` ties it to that request in logs and audit. */
  sign(user: EndUser, audience: ServiceName, requestId: string, now = Date.now()): string {
    const iat = Math.floor(now / 1000);
    return signCompactJws(
      { typ: assertionType },
      {
        iss: this.#issuer, aud: spiffeId(audience), sub: user.clientId, jkt: user.keyThumbprint, scope: user.scopes.join(' '),
        ...(user.customerId ? { customer_id: user.customerId } : {}), ...(user.supportGrantId ? { support_grant: user.supportGrantId } : {}), iat, exp: iat + assertionLifetimeSeconds, txn: requestId,
      },
      this.key,
    );
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

  constructor(private readonly key: KeyObject, issuer: ServiceName, audience: ServiceName) {
    this.#issuer = spiffeId(issuer);
    this.#audience = spiffeId(audience);
  }

  /** The end user, or a 401 problem that says which check failed. */
  verify(assertion: string | undefined, now = Date.now()): EndUser {
    if (!assertion) throw refused('the request carries no caller assertion; only the gateway, which signs one, may call this route');
    let claims: Record<string, unknown>;
    try {
      const jws = parseCompactJws(assertion, maxAssertionLength);
      if (jws.header.typ !== assertionType) throw new JwsError(`typ must be ${assertionType}`);
      if (jws.alg !== 'EdDSA' || !verifyJws(jws, this.key)) throw new JwsError('signature does not verify with the gateway key');
      claims = jws.payload;
    } catch (error) {
      throw refused(`caller assertion refused: ${(error as Error).message}`);
    }
    const seconds = now / 1000;
    if (claims.iss !== this.#issuer) throw refused(`caller assertion issued by ${String(claims.iss)}, not ${this.#issuer}`);
    if (claims.aud !== this.#audience) throw refused(`caller assertion is for ${String(claims.aud)}, not ${this.#audience}`);
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') throw refused('caller assertion lacks iat or exp');
    if (claims.exp - claims.iat > assertionLifetimeSeconds) throw refused(`caller assertion lives longer than ${assertionLifetimeSeconds} s`);
    if (claims.exp + clockSkewSeconds < seconds) throw refused('caller assertion has expired');
    if (claims.iat - clockSkewSeconds > seconds) throw refused('caller assertion is issued in the future');
    const { sub, jkt, scope, customer_id: customerId, support_grant: supportGrantId } = claims;
    if (typeof sub !== 'string' || typeof jkt !== 'string' || typeof scope !== 'string') throw refused('caller assertion lacks sub, jkt or scope');
    if (customerId !== undefined && typeof customerId !== 'string') throw refused('caller assertion has a malformed customer_id');
    if (supportGrantId !== undefined && (typeof supportGrantId !== 'string' || customerId === undefined)) throw refused('caller assertion has a support_grant without a customer_id');
    return { clientId: sub, keyThumbprint: jkt, scopes: scope.split(' ').filter(Boolean), ...(customerId ? { customerId } : {}), ...(supportGrantId ? { supportGrantId } : {}) };
  }
}

const refused = (detail: string): ProblemError => new ProblemError('unauthenticated', detail);
