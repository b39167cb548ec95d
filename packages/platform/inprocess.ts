/**
 * Co-located components: several services in one process, calling each other without a socket.
 * The registry knows which components this process hosts and hands a caller a transport that
 * dispatches into the callee's own server (Fastify's `inject`), so that a call still passes the
 * callee's routing, validation, allow-list, problem documents, spans and metrics — only the
 * network is gone. The caller's identity is a single-use ticket this registry issued, in place of
 * the certificate a network call would present.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ServiceName, WorkloadName } from '@msa-poc/contracts';
import type { Transport } from './client.js';
import { localCallerHeader, type LocalCallers } from './server.js';

export class ComponentRegistry implements LocalCallers {
  private readonly servers = new Map<ServiceName, FastifyInstance>();
  /** Tickets of the in-process calls in flight, by the caller they name. */
  private readonly tickets = new Map<string, WorkloadName>();

  constructor(readonly components: readonly ServiceName[]) {}

  hosts(name: ServiceName): boolean {
    return this.components.includes(name);
  }

  /** Makes a component's server reachable in-process (called once it is built, before it listens). */
  register(name: ServiceName, server: FastifyInstance): void {
    if (!this.hosts(name)) throw new Error(`${name} is not one of the components of this process (${this.components.join(', ')})`);
    this.servers.set(name, server);
  }

  unregister(name: ServiceName): void {
    this.servers.delete(name);
  }

  redeem(ticket: string): WorkloadName | undefined {
    return this.tickets.get(ticket);
  }

  /** How `caller` reaches the co-located `callee`. */
  transport(callee: ServiceName, caller: WorkloadName): Transport {
    if (!this.hosts(callee)) throw new Error(`${callee} does not run in this process; call it over the network`);
    const serverOf = (): FastifyInstance => {
      const server = this.servers.get(callee);
      if (!server) throw new Error(`${callee} is not serving in this process (starting or stopped)`);
      return server;
    };
    return {
      name: 'inproc',
      send: async ({ method, path, headers, body, timeoutMs, signal }) => {
        const server = serverOf();
        const ticket = randomUUID();
        this.tickets.set(ticket, caller);
        let timer: NodeJS.Timeout | undefined;
        let abandon: (() => void) | undefined;
        try {
          // The callee bounds its own work by the deadline header; the caller stops waiting here.
          const response = await Promise.race([
            server.inject({ method: method as 'GET', url: path, headers: { ...headers, [localCallerHeader]: ticket }, ...(body === undefined ? {} : { payload: body }) }),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' })), timeoutMs);
              if (signal) {
                abandon = () => reject(signal.reason);
                if (signal.aborted) abandon();
                else signal.addEventListener('abort', abandon, { once: true });
              }
            }),
          ]);
          return {
            status: response.statusCode,
            headers: response.headers,
            text: async (maxBytes) => {
              if (response.rawPayload.length > maxBytes) throw new Error(`response of ${response.rawPayload.length} bytes exceeds the ${maxBytes}-byte limit`);
              return response.payload;
            },
          };
        } finally {
          clearTimeout(timer);
          if (abandon) signal?.removeEventListener('abort', abandon);
          this.tickets.delete(ticket);
        }
      },
      ping: async () => {
        const response = await serverOf().inject({ method: 'GET', url: '/openapi.json' });
        if (response.statusCode !== 200) throw new Error(`answered ${response.statusCode}`);
      },
      close: async () => undefined,
    };
  }
}
