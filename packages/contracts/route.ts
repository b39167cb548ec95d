/**
 * The contract language: a route or an event is declared once, as data, and every
 * server, client, validator and document is derived from that declaration.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { SupportView } from './masking.js';
import type { ServiceName, WorkloadName } from './topology.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type Scope = 'orders:read' | 'orders:write';

/** Who may call a route: named workloads (checked against the mTLS identity) or the public edge. */
export type Callers = readonly WorkloadName[] | 'public';

export interface RouteSpec {
  readonly method: Method;
  /** Fastify-style path: `/orders/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly params?: TSchema;
  readonly query?: TSchema;
  readonly headers?: TSchema;
  readonly body?: TSchema;
  /** The largest request body this route takes, in bytes, when it is not the server's default (64 KiB). */
  readonly bodyLimit?: number;
  /** How the body is encoded: JSON unless a standard says otherwise (OAuth's token endpoint takes a form). */
  readonly bodyMediaType?: 'application/json' | 'application/x-www-form-urlencoded';
  /** Every status this route can answer, with its body schema. */
  readonly responses: Readonly<Record<number, TSchema>>;
  readonly callers: Callers;
  /** Scope a public caller's token must carry. */
  readonly scope?: Scope;
  /** True when repeating the call cannot change the outcome: only these are retried. */
  readonly idempotent: boolean;
  /** What a support token is served of each response (masking.ts); a route or status without one is masked entirely. */
  readonly support?: SupportView;
}

export interface ServiceContract<Name extends ServiceName = ServiceName, Routes extends Record<string, RouteSpec> = Record<string, RouteSpec>> {
  readonly service: Name;
  /** Semantic version: a breaking change to any route needs a new major. */
  readonly version: string;
  readonly routes: Routes;
}

export const route = <const R extends RouteSpec>(spec: R): R => spec;

export const contract = <const Name extends ServiceName, const Routes extends Record<string, RouteSpec>>(
  c: ServiceContract<Name, Routes>,
): ServiceContract<Name, Routes> => c;

type Part<R, K extends 'params' | 'query' | 'headers' | 'body'> = R extends { readonly [P in K]: infer S extends TSchema }
  ? { readonly [P in K]: Static<S> }
  : { readonly [P in K]?: undefined };

/** What a caller passes and a handler receives, typed from the route. */
export type RequestOf<R extends RouteSpec> = Part<R, 'params'> & Part<R, 'query'> & Part<R, 'headers'> & Part<R, 'body'>;

/** Every answer a route can give, as a discriminated union on `status`. */
export type ReplyOf<R extends RouteSpec> = {
  [S in keyof R['responses'] & number]: { readonly status: S; readonly body: Static<R['responses'][S]>; readonly headers?: Readonly<Record<string, string>> };
}[keyof R['responses'] & number];

/** The successful (2xx) part of a reply. */
export type SuccessOf<R extends RouteSpec> = Extract<ReplyOf<R>, { status: 200 | 201 | 202 | 204 }>;

export interface EventSpec {
  /** CloudEvents `type`, reverse-DNS and versioned: `dev.msa-poc.order.placed.v1`. */
  readonly type: string;
  readonly version: string;
  readonly summary: string;
  readonly data: TSchema;
  /** Subject on the broker in the production profile. */
  readonly subject: string;
}

export const event = <const E extends EventSpec>(spec: E): E => spec;

export type EventDataOf<E extends EventSpec> = Static<E['data']>;
