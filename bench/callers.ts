/** A caller of the public routes with no OAuth: the bare chain's client, and the client of a system whose auth is switched off. */
import { HttpTransport } from '@msa-poc/harness/http';
import type { ApiCaller, ApiResponse } from '@msa-poc/harness/api-client';

export class PlainCaller implements ApiCaller {
  readonly #http: HttpTransport;

  /** `ca`: the PEM that issued the gateway's certificate, for an https origin. */
  constructor(readonly origin: string, ca?: string) {
    this.#http = new HttpTransport(origin, { connections: 64, ...(ca ? { ca } : {}) });
  }

  async call<T = unknown>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ApiResponse<T>> {
    const response = await this.#http.send({
      method, path,
      ...(options.signal ? { signal: options.signal } : { timeoutMs: options.timeoutMs ?? 10_000 }),
      headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
  }

  close(): Promise<void> {
    return this.#http.close();
  }
}
