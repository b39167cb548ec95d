/**
 * Every problem a caller can meet, in one place (RFC 9457). The `type` URI is stable: clients may
 * branch on it. `title` is the same for every occurrence; `detail` says what happened this time
 * and what to do about it.
 */
import { Type, type Static } from '@sinclair/typebox';

const base = 'https://msa-poc.local/problems/';

export const problemTypes = {
  badRequest: { type: `${base}bad-request`, status: 400, title: 'The request is malformed' },
  validation: { type: `${base}validation`, status: 400, title: 'The request does not match the contract' },
  unauthenticated: { type: `${base}unauthenticated`, status: 401, title: 'Authentication is required' },
  badSignature: { type: `${base}bad-signature`, status: 401, title: 'The message signature is missing or invalid' },
  forbiddenCaller: { type: `${base}forbidden-caller`, status: 403, title: 'This caller may not call this route' },
  insufficientScope: { type: `${base}insufficient-scope`, status: 403, title: 'The access token lacks the scope this route needs' },
  actsForAnotherCustomer: { type: `${base}acts-for-another-customer`, status: 403, title: 'This client acts for another customer' },
  supportRoleRequired: { type: `${base}support-role-required`, status: 403, title: 'This client does not have the support role this needs' },
  supportLeadRequired: { type: `${base}support-lead-required`, status: 403, title: 'Only a support lead may do this' },
  ownSupportRequest: { type: `${base}own-support-request`, status: 403, title: 'Nobody decides their own access request' },
  supportTokenRefused: { type: `${base}support-token-refused`, status: 403, title: 'A support token cannot be used here' },
  foreignOrigin: { type: `${base}foreign-origin`, status: 403, title: 'The request comes from another site or names another host' },
  notFound: { type: `${base}not-found`, status: 404, title: 'No such resource' },
  routeNotFound: { type: `${base}route-not-found`, status: 404, title: 'No such route' },
  methodNotAllowed: { type: `${base}method-not-allowed`, status: 405, title: 'Method not allowed on this route' },
  notAcceptable: { type: `${base}not-acceptable`, status: 406, title: 'No acceptable representation' },
  outOfStock: { type: `${base}out-of-stock`, status: 409, title: 'Not enough stock for this order' },
  invalidTransition: { type: `${base}invalid-transition`, status: 409, title: 'The order cannot make this transition from its current state' },
  supportRequestDecided: { type: `${base}support-request-decided`, status: 409, title: 'The access request is no longer pending or live' },
  alreadyReviewed: { type: `${base}already-reviewed`, status: 409, title: 'This break-glass grant has been reviewed already' },
  alreadyReplayed: { type: `${base}already-replayed`, status: 409, title: 'This dead letter has already been replayed' },
  uriTooLong: { type: `${base}uri-too-long`, status: 414, title: 'The request URI is too long' },
  payloadTooLarge: { type: `${base}payload-too-large`, status: 413, title: 'The request body is too large' },
  unsupportedMediaType: { type: `${base}unsupported-media-type`, status: 415, title: 'Unsupported content type' },
  idempotencyKeyReused: { type: `${base}idempotency-key-reused`, status: 422, title: 'This Idempotency-Key was used with a different request' },
  orderRule: { type: `${base}order-rule`, status: 422, title: 'The order breaks a business rule' },
  unknownSku: { type: `${base}unknown-sku`, status: 422, title: 'The order names a product that does not exist' },
  breakGlassTooLong: { type: `${base}break-glass-too-long`, status: 422, title: 'Break-glass access lasts at most 15 minutes' },
  unreplayable: { type: `${base}unreplayable`, status: 422, title: 'The dead letter\'s event cannot be published again' },
  tooManyRequests: { type: `${base}too-many-requests`, status: 429, title: 'Rate limit exceeded' },
  internal: { type: `${base}internal`, status: 500, title: 'Internal error' },
  maskingFailed: { type: `${base}masking-failed`, status: 500, title: 'The response could not be masked for support access, so none was served' },
  upstreamContract: { type: `${base}upstream-contract`, status: 502, title: 'A dependency answered outside its contract' },
  unavailable: { type: `${base}unavailable`, status: 503, title: 'A dependency is unavailable' },
  deadlineExceeded: { type: `${base}deadline-exceeded`, status: 504, title: 'A dependency did not answer in time' },
} as const;

export type ProblemName = keyof typeof problemTypes;

export const Problem = Type.Object(
  {
    type: Type.String({ format: 'uri' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    /** Field-level validation errors, when the problem is a validation failure. */
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), { maxItems: 20 })),
    requestId: Type.Optional(Type.String()),
    traceId: Type.Optional(Type.String()),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof Problem>;

export const problemMediaType = 'application/problem+json';

export function problem(name: ProblemName, detail?: string, extra?: Partial<Problem>): Problem {
  const p = problemTypes[name];
  return { type: p.type, title: p.title, status: p.status, ...(detail === undefined ? {} : { detail }), ...extra };
}
