/** Rounds a figure for a report: `digits` decimals (3 by default), so that no figure claims more precision than its measurement. */
export const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** The middle value, or the mean of the two middle values of an even count; NaN for none. */
export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
