/** Money travels as a decimal string; arithmetic happens on integer minor units (cents), never floats. */
import type { Money } from './schemas.js';

export function toMinor(amount: string): number {
  const match = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!match) throw new RangeError(`"${amount}" is not a decimal amount with two fraction digits`);
  return Number(match[1]) * 100 + Number(match[2]);
}

export function fromMinor(minor: number): string {
  if (!Number.isSafeInteger(minor) || minor < 0) throw new RangeError(`${minor} is not a non-negative whole number of minor units`);
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;
}

export const eur = (minor: number): Money => ({ amount: fromMinor(minor), currency: 'EUR' });
