/**
 * What an order is and what can happen to it: pricing and the state machine. Pure functions, no I/O.
 *
 *   placed ──► fulfilled      (the partner shipped it)
 *     │ ├────► cancelled      (the customer withdrew it; stock returns)
 *     │ └────► failed         (the partner could not take it after every retry; stock returns)
 */
import { createHash } from 'node:crypto';
import { eur, fromMinor, maxQuantityPerLine, toMinor, type OrderStatus, type PlaceOrderInput, type Product } from '@msa-poc/contracts';

export const transitions: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  placed: ['fulfilled', 'cancelled', 'failed'],
  fulfilled: [],
  cancelled: [],
  failed: [],
};

/** The states from which an order may move to `to`. */
export const statesLeadingTo = (to: OrderStatus): OrderStatus[] =>
  (Object.keys(transitions) as OrderStatus[]).filter((from) => transitions[from].includes(to));

/** Whether moving to `to` returns the order's stock to the shelf. */
export const returnsStock = (to: OrderStatus): boolean => to === 'cancelled' || to === 'failed';

export interface PricedLine {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: { amount: string; currency: 'EUR' };
}

export type Pricing =
  | { readonly ok: true; readonly items: PricedLine[]; readonly total: { amount: string; currency: 'EUR' } }
  | { readonly ok: false; readonly rule: 'unknown-sku' | 'quantity'; readonly detail: string };

/**
 * Prices an order against the catalog. Lines naming the same SKU are merged (the store decrements
 * stock once per product), and the merged quantity must stay within the per-product limit.
 */
export function priceOrder(input: PlaceOrderInput, catalog: ReadonlyMap<string, Product>): Pricing {
  const quantities = new Map<string, number>();
  for (const item of input.items) quantities.set(item.sku, (quantities.get(item.sku) ?? 0) + item.quantity);
  const unknown = [...quantities.keys()].filter((sku) => !catalog.has(sku));
  if (unknown.length > 0) return { ok: false, rule: 'unknown-sku', detail: `No product ${unknown.join(', ')}; GET /v1/products lists the catalog.` };
  const items: PricedLine[] = [];
  let total = 0;
  for (const [sku, quantity] of quantities) {
    if (quantity > maxQuantityPerLine) {
      return { ok: false, rule: 'quantity', detail: `${quantity} × ${sku} exceeds the limit of ${maxQuantityPerLine} per product per order.` };
    }
    const product = catalog.get(sku) as Product;
    const unit = toMinor(product.price.amount);
    items.push({ sku, quantity, unitPrice: eur(unit) });
    total += unit * quantity;
  }
  return { ok: true, items, total: { amount: fromMinor(total), currency: 'EUR' } };
}

/** Canonical JSON: object keys sorted, so that the same request always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Identifies a request's content, so that an Idempotency-Key reused with another body is caught. */
export const requestHash = (input: PlaceOrderInput): string => createHash('sha256').update(canonical(input)).digest('base64url');
