/** Rounds a figure for a report: `digits` decimals (3 by default), so that no figure claims more precision than its measurement. */
export const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;
