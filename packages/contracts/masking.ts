/**
 * What a support engineer sees of each response served under a support token: a policy for every
 * field, declared next to the routes. A field the policy does not name is masked (default deny), so
 * a field added to a response stays hidden from support until someone decides otherwise here.
 *
 * - `clear`: served as is.
 * - `{ partial: 'first' | 'last', keep }`: only the first or last `keep` characters, the rest `***`
 *   (a value of `2 × keep` characters or fewer shows nothing).
 * - `hashed`: `hash:` and the first 16 hex digits of SHA-256 over a random salt of the grant and the
 *   value. The salt is drawn per grant and kept in the gateway's memory only, never stored or sent,
 *   so a low-entropy value (a name, a street) cannot be found by hashing a dictionary of guesses;
 *   equal values compare equal within one grant at one gateway, and nowhere else.
 * - `omit`: not served at all.
 */
export type FieldRule = 'clear' | 'hashed' | 'omit' | { readonly partial: 'first' | 'last'; readonly keep: number };

/** A policy mirrors the JSON it governs: a rule per leaf, an object per object, `[element]` for an array. */
export type FieldPolicy = FieldRule | { readonly [field: string]: FieldPolicy } | readonly [FieldPolicy];

/** A route's policies, by response status; a status without one is masked entirely. */
export type SupportView = Readonly<Record<number, FieldPolicy>>;

export const isRule = (policy: FieldPolicy): policy is FieldRule => typeof policy === 'string' || (typeof policy === 'object' && 'partial' in policy && !Array.isArray(policy));

const money = { amount: 'clear', currency: 'clear' } as const;

/** A problem document: its kind and ids in clear; free text is not served, since it may quote data. */
export const problemPolicy = {
  type: 'clear', title: 'clear', status: 'clear', instance: 'clear', requestId: 'clear', traceId: 'clear',
  detail: 'omit',
  errors: [{ path: 'clear', message: 'omit' }],
} as const satisfies FieldPolicy;

export const orderPolicy = {
  id: 'clear', customerId: 'clear', status: 'clear', createdAt: 'clear', updatedAt: 'clear', total: money,
  items: [{ sku: 'clear', name: 'clear', quantity: 'clear', unitPrice: money, lineTotal: money }],
  shippingAddress: {
    name: 'hashed',
    line1: 'omit',
    city: 'clear',
    postalCode: { partial: 'first', keep: 2 },
    country: 'clear',
  },
} as const satisfies FieldPolicy;

export const orderPagePolicy = { items: [orderPolicy], nextCursor: 'clear' } as const satisfies FieldPolicy;

export const productListPolicy = { items: [{ sku: 'clear', name: 'clear', price: money, stock: 'clear' }] } as const satisfies FieldPolicy;

/** Every refusal a support request can meet, with the problem policy. */
export const problemViews = (...statuses: number[]): SupportView => Object.fromEntries(statuses.map((status) => [status, problemPolicy]));
