/**
 * The partner's fault switches, set through its admin port: how slow it is, how often it fails,
 * and which countries it refuses to ship to. The proving run turns these to test our resilience.
 */
import { Type, type Static } from '@sinclair/typebox';

export const FaultSettings = Type.Object(
  {
    /** Share of fulfilment requests answered 503, 0 to 1. */
    errorRate: Type.Number({ minimum: 0, maximum: 1 }),
    /** Added before answering, in ms. */
    latencyMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
    /** Delay between accepting an order and calling back that it shipped. */
    fulfilDelayMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
    /** ISO country codes the partner does not ship to (a permanent refusal, 422). */
    refuseCountries: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { maxItems: 50 }),
  },
  { additionalProperties: false },
);
export type FaultSettings = Static<typeof FaultSettings>;

export const FaultUpdate = Type.Partial(FaultSettings, { additionalProperties: false });

export const defaultFaults = (): FaultSettings => ({ errorRate: 0, latencyMs: 0, fulfilDelayMs: 100, refuseCountries: [] });
