/**
 * A real OAuth client of the public API, as any integrator would write one: it proves its key with
 * `private_key_jwt`, holds a DPoP-bound token, refreshes it before expiry, signs a fresh DPoP proof
 * for every request and follows server nonces. `poc token`, the tests and the proving run use it.
 */
import { generateKeyPairSync, createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClientAssertion, clientAssertionType } from '@msa-poc/gateway/auth/client-assertion';
import { createDpopProof } from '@msa-poc/gateway/auth/dpop';
import { parsePublicJwk, type PublicJwk } from '@msa-poc/gateway/auth/jwk';
import { HttpTransport, type HttpResponse } from './http.js';

export interface ClientKey {
  readonly privateKey: KeyObject;
  readonly publicJwk: PublicJwk;
}

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
}

/** A P-256 key pair for a client, kept as a private JWK (mode 0600) under `dir`. */
export function loadOrCreateClientKey(dir: string, name: string): ClientKey {
  const file = join(dir, `${name}.client.jwk`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, JSON.stringify(privateKey.export({ format: 'jwk' })), { mode: 0o600, flag: 'wx' });
  }
  const jwk = JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey;
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const { d: _private, ...publicPart } = jwk;
  return { privateKey, publicJwk: parsePublicJwk(publicPart) };
}

/** What a scenario needs of the API: a call. A bare HTTP caller without OAuth fits too (the bench's floor). */
export type ApiCaller = Pick<ApiClient, 'call'>;

export class ApiClient {
  readonly #http: HttpTransport;
  #token: { value: string; refreshAt: number } | undefined;
  #nonce: string | undefined;

  constructor(
    readonly origin: string,
    readonly clientId: string,
    private readonly key: ClientKey,
    /** PEM of the CA that issued the gateway's certificate; undefined trusts the system's CAs. */
    ca: string | undefined,
    private readonly scope?: string,
  ) {
    this.#http = new HttpTransport(origin, { connections: 64, ...(ca === undefined ? {} : { ca }) });
  }

  /** A DPoP proof for one request, bound to the current token. */
  proof(method: string, url: string, accessToken?: string): string {
    return createDpopProof({ privateKey: this.key.privateKey, publicJwk: this.key.publicJwk, method, url, ...(accessToken ? { accessToken } : {}), ...(this.#nonce ? { nonce: this.#nonce } : {}) });
  }

  /** The current access token, fetched or refreshed a minute before it expires. */
  async accessToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return this.#token.value;
    const url = `${this.origin}/oauth/token`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: clientAssertionType,
        client_assertion: createClientAssertion({ clientId: this.clientId, audience: url, privateKey: this.key.privateKey }),
        ...(this.scope ? { scope: this.scope } : {}),
      });
      const response = await this.#postForm(url, form);
      const body = JSON.parse(response.text()) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
      const nonce = response.headers['dpop-nonce'];
      if (typeof nonce === 'string') this.#nonce = nonce;
      if (response.status === 400 && body.error === 'use_dpop_nonce' && attempt === 0) continue;
      if (response.status !== 200 || !body.access_token) {
        throw new Error(`the token endpoint refused ${this.clientId}: ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
      }
      const lifetime = (body.expires_in ?? 60) * 1000;
      this.#token = { value: body.access_token, refreshAt: Date.now() + Math.max(lifetime - 60_000, lifetime / 2) };
      return body.access_token;
    }
    throw new Error('the token endpoint kept asking for a new DPoP nonce');
  }

  /**
   * RFC 8693 token exchange: this client's own token, proved with its own key, for a support token
   * under an approved grant. The answer is returned as it came, refusals included.
   */
  async supportToken(grantId: string): Promise<ApiResponse<{ access_token?: string; expires_in?: number; scope?: string; issued_token_type?: string; error?: string; error_description?: string }>> {
    const url = `${this.origin}/oauth/token`;
    for (let attempt = 0; ; attempt++) {
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await this.accessToken(),
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        authorization_details: JSON.stringify([{ type: 'support_access', grant_id: grantId }]),
      });
      const response = await this.#postForm(url, form);
      const body = JSON.parse(response.text()) as { error?: string };
      const nonce = response.headers['dpop-nonce'];
      if (typeof nonce === 'string') this.#nonce = nonce;
      if (response.status === 400 && body.error === 'use_dpop_nonce' && attempt === 0) continue;
      return { status: response.status, headers: response.headers, body };
    }
  }

  /** One API call with a fresh proof; a `use_dpop_nonce` challenge is answered once. `token` replaces the client's own (a support token). */
  async call<T = unknown>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; token?: string } = {}): Promise<ApiResponse<T>> {
    const url = `${this.origin}${path}`;
    for (let attempt = 0; ; attempt++) {
      const token = options.token ?? (await this.accessToken());
      const response = await this.#http.send({
        method,
        path,
        ...(options.signal ? { signal: options.signal } : { timeoutMs: options.timeoutMs ?? 10_000 }),
        headers: {
          authorization: `DPoP ${token}`,
          dpop: this.proof(method, url, token),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      const text = response.text();
      const nonce = response.headers['dpop-nonce'];
      if (typeof nonce === 'string') this.#nonce = nonce;
      if (response.status === 401 && attempt === 0 && String(response.headers['www-authenticate'] ?? '').includes('use_dpop_nonce')) continue;
      return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
    }
  }

  #postForm(url: string, form: URLSearchParams): Promise<HttpResponse> {
    return this.#http.send({
      method: 'POST', path: new URL(url).pathname, body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: this.proof('POST', url) },
    });
  }

  close(): Promise<void> {
    return this.#http.close();
  }
}
