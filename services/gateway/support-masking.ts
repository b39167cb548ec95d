/**
 * What a support engineer is served, decided in one place for every route: a response to a request
 * made under a support token is masked by the route's policy in the contract (default deny), its
 * audit record (engineer, customer, grant, ticket, route, fields in clear and masked, outcome, trace
 * id) is stored with the masked body as served, and only then is it sent. A masking failure answers
 * 500 and an audit failure 503, with nothing of the response served. Errors are masked like bodies;
 * the log lines written here carry the route, the grant and the kind of failure, never a value.
 */
import { randomBytes } from 'node:crypto';
import { problem, type ServiceContract, type RouteSpec } from '@msa-poc/contracts';
import { ProblemError } from '@msa-poc/platform/errors';
import { mask as policyMask, type Masker } from '@msa-poc/platform/masking';
import { SerializedJson, type Handler, type Handlers } from '@msa-poc/platform/server';
import { currentContext, currentTraceId, type Logger } from '@msa-poc/platform/telemetry';
import type { AuditTrail } from './audit.js';

/** Who acts for whom, once a support token has been accepted for the request. */
export interface SupportSession {
  readonly engineer: string;
  readonly keyThumbprint: string;
  readonly customerId: string;
  readonly grantId: string;
  readonly ticketId: string;
}

/** A random salt per grant for `hashed` fields, kept in this process only (see the contracts' masking.ts). */
export class GrantSalts {
  readonly #salts = new Map<string, Buffer>();

  of(grantId: string): Buffer {
    let salt = this.#salts.get(grantId);
    if (!salt) {
      if (this.#salts.size >= 10_000) this.#salts.delete(this.#salts.keys().next().value as string);
      salt = randomBytes(32);
      this.#salts.set(grantId, salt);
    }
    return salt;
  }
}

export interface SupportMaskingOptions {
  /** The support session of the request being handled, if a support token was accepted for it. */
  readonly session: () => SupportSession | undefined;
  readonly audit: AuditTrail;
  readonly log: Logger;
  readonly salts: GrantSalts;
  readonly mask?: Masker;
}

type Reply = { status: number; body: unknown; headers?: Readonly<Record<string, string>> };

/** `a.b.c a.b.d e` as `a.b.{c,d},e`: field lists short enough for an audit record. */
export function compactPaths(paths: readonly string[]): string {
  type Tree = Map<string, Tree>;
  const root: Tree = new Map();
  for (const path of paths) {
    let node = root;
    for (const part of path.split('.')) {
      if (!node.has(part)) node.set(part, new Map());
      node = node.get(part) as Tree;
    }
  }
  const render = (tree: Tree): string => [...tree].map(([key, sub]) => (sub.size === 0 ? key : `${key}.${sub.size === 1 ? render(sub) : `{${render(sub)}}`}`)).join(',');
  return render(root) || '-';
}

/** The answer to give for what a handler threw, as the platform would give it. */
function replyOf(error: unknown, log: Logger, route: string): Reply {
  if (error instanceof ProblemError) {
    // The platform would log a dependency's failure with its message; here only its kind, since a message may quote data.
    if (error.status >= 500) log.warn({ route, status: error.status, problem: error.problem.type }, 'support request: dependency failure');
    return { status: error.status, body: error.problem, headers: error.headers };
  }
  log.error({ route, errorType: (error as Error)?.name ?? typeof error }, 'support request failed');
  return { status: 500, body: problem('internal', 'The service failed to handle the request; it has been logged with its request id.') };
}

const outcomeOf = (status: number) => (status < 400 ? 'succeeded' : status < 500 ? 'refused' : 'failed');

export function withSupportMasking<C extends ServiceContract>(contract: C, handlers: Handlers<C>, options: SupportMaskingOptions): Handlers<C> {
  const { session: sessionOf, audit, log, salts, mask = policyMask } = options;
  const wrap = (spec: RouteSpec, handler: Handler<RouteSpec>): Handler<RouteSpec> => async (request) => {
    let reply: Reply;
    try {
      reply = await handler(request);
    } catch (error) {
      if (!sessionOf()) throw error;
      reply = replyOf(error, log, spec.path);
    }
    const session = sessionOf();
    if (!session) return reply as never;
    const url = new URL(request.http.url);
    const requestId = currentContext()?.requestId;
    const traceId = currentTraceId();
    const problemIds = { instance: url.pathname, ...(requestId ? { requestId } : {}), ...(traceId ? { traceId } : {}) };
    let status = reply.status;
    let served: { json: string; clear: readonly string[]; masked: readonly string[] };
    try {
      const body = status >= 400 ? { ...(reply.body as object), ...problemIds } : reply.body;
      const masked = mask(body, spec.support?.[status], salts.of(session.grantId));
      served = { json: JSON.stringify(masked.value), clear: masked.clear, masked: masked.masked };
    } catch (error) {
      log.error({ route: spec.path, grant: session.grantId, errorType: (error as Error)?.name ?? typeof error }, 'support response could not be masked; nothing of it was served');
      status = 500;
      served = { json: JSON.stringify({ ...problem('maskingFailed', 'Nothing of the response was served. The failure is logged with its request id.'), ...problemIds }), clear: [], masked: ['(body):masking-failed'] };
    }
    const route = `${spec.method} ${spec.path}`;
    const detail = `for customer ${session.customerId} under grant ${session.grantId} (ticket ${session.ticketId}); ${status}; clear ${compactPaths(served.clear)}; masked ${compactPaths(served.masked)}`;
    try {
      await audit.recordServed(
        { actor: session.engineer, keyThumbprint: session.keyThumbprint, action: 'support.read', outcome: outcomeOf(status), target: route, detail: detail.length > 500 ? `${detail.slice(0, 499)}…` : detail },
        { grantId: session.grantId, route: `${request.http.method} ${url.pathname}${url.search}`, status, body: served.json },
      );
    } catch (error) {
      log.warn({ route: spec.path, grant: session.grantId, err: (error as Error).message }, 'support response not served: it could not be audited');
      return { status: 503, body: { ...problem('unavailable', `${route} was not served: it could not be audited (the audit trail is unavailable); retry shortly.`), ...problemIds }, headers: { 'retry-after': '1' } } as never;
    }
    return { status, body: new SerializedJson(served.json), headers: reply.headers ?? {} } as never;
  };
  const routes = contract.routes as Readonly<Record<string, RouteSpec>>;
  const source = handlers as unknown as Readonly<Record<string, Handler<RouteSpec>>>;
  return Object.fromEntries(Object.entries(source).map(([name, handler]) => [name, wrap(routes[name] as RouteSpec, handler)])) as unknown as Handlers<C>;
}
