/**
 * The synthetic services' contract (`poc up --topology synthetic:N`): one route that crosses the
 * services below, so that a request's cost can be measured against the number of hops it takes.
 */
import { Type } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { topology, type SyntheticServiceName } from './topology.js';

export const RelayQuery = Type.Object(
  {
    /** Synthetic levels to cross, this one included (all of them when absent). */
    depth: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    /** `one`: the first callee of each level only, a chain; `all` (default): every callee. */
    breadth: Type.Optional(Type.Union([Type.Literal('one'), Type.Literal('all')])),
  },
  { additionalProperties: false },
);

export const RelayReply = Type.Object(
  {
    /** Every service the request crossed, depth first. */
    crossed: Type.Array(Type.String(), { maxItems: 512 }),
    /** The levels it went down, this one included. */
    depth: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

/** The contract of one synthetic service: its callers are the services the topology has call it. */
export const relayContract = (name: SyntheticServiceName) =>
  contract({
    service: name,
    version: '1.0.0',
    routes: {
      relay: route({
        method: 'GET', path: '/relay', summary: 'Cross this service and the levels below it; answer with the services crossed.',
        query: RelayQuery, responses: { 200: RelayReply }, callers: topology.filter((s) => s.calls.includes(name)).map((s) => s.name), idempotent: true,
      }),
    },
  });

export type RelayContract = ReturnType<typeof relayContract>;
