/** A caller of the public routes with no OAuth: the bare chain's client, and the client of a system whose auth is switched off. */
import { Agent, request } from 'undici';
import type { ApiCaller, ApiResponse } from '@msa-poc/harness/api-client';

export class PlainCaller implements ApiCaller {
  readonly #agent: Agent;

  /** `ca`: the PEM that issued the gateway's certificate, for an https origin. */
  constructor(readonly origin: string, ca?: string) {
    this.#agent = new Agent({ connections: 64, keepAliveTimeout: 30_000, ...(ca ? { connect: { ca } } : {}) });
  }

  async call<T = unknown>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ApiResponse<T>> {
    const response = await request(`${this.origin}${path}`, {
      method: method as 'GET', dispatcher: this.#agent,
      signal: options.signal ?? AbortSignal.timeout(options.timeoutMs ?? 10_000),
      headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
