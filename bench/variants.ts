/** The variants a bench run can measure, and how `--variants` names them. */

import { benchFeatures, type BenchFeature } from '@msa-poc/platform/config';

export { benchFeatures, type BenchFeature };

/** `colocated` is the full system with gateway, orders, store and integration in one process (issue: granularity). */
/** `without-telemetry` switches tracing and metrics off together: their joint cost is what the observability budget is about. */
export const allVariants: readonly string[] = ['full', 'colocated', 'bare', ...benchFeatures.map((f) => `without-${f}`), 'without-telemetry'];

export class UsageError extends Error {}

/** The features a `without-…` variant switches off (none for the others). */
export function featuresOf(variant: string): BenchFeature[] {
  if (variant === 'without-telemetry') return ['tracing', 'metrics'];
  return benchFeatures.filter((f) => variant === `without-${f}`);
}

/**
 * The variants named in a `--variants` list, in the order a run measures them (full first: the
 * others are placed against its knee), or a usage error naming the valid ones.
 */
export function parseVariants(list: string | undefined): string[] {
  if (list === undefined) return [...allVariants];
  const names = list.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--variants needs at least one name: ${allVariants.join(', ')}`);
  const unknown = names.filter((n) => !allVariants.includes(n));
  if (unknown.length > 0) throw new UsageError(`unknown variant${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; choose from ${allVariants.join(', ')}`);
  return allVariants.filter((v) => names.includes(v));
}

/** Measured side by side with the full system unless `--paired` says otherwise: the observability budget is a few per cent. */
export const defaultPaired: readonly string[] = ['without-tracing', 'without-metrics', 'without-telemetry'];

/**
 * Which of the run's variants `--paired` names ("none" for none; by default the telemetry ones the
 * run includes), or a usage error: the full system is the reference, not a partner.
 */
export function parsePaired(list: string | undefined, variants: readonly string[]): string[] {
  if (list === undefined) return defaultPaired.filter((v) => variants.includes(v));
  const names = list.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'none') return [];
  const invalid = names.filter((n) => n === 'full' || !allVariants.includes(n));
  if (invalid.length > 0) throw new UsageError(`--paired cannot take ${invalid.map((n) => `"${n}"`).join(', ')}: name variants other than full (the reference), from ${allVariants.filter((v) => v !== 'full').join(', ')}, or none`);
  const missing = names.filter((n) => !variants.includes(n));
  if (missing.length > 0) throw new UsageError(`--paired names ${missing.map((n) => `"${n}"`).join(', ')}, which --variants leaves out`);
  return variants.filter((v) => names.includes(v));
}
