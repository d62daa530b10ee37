/** Order statistics for benchmark samples: pure, so the harness's figures can be tested without a lab. */

/** The p-th percentile (0..100) by nearest rank; undefined for no samples. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function median(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** a / b, or undefined when either is missing or b is zero (a ratio against nothing is not a figure). */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return undefined;
  return a / b;
}

/** Rounded for the result line: enough digits for sub-millisecond figures, no float noise. */
export function rounded(value: number | undefined, digits = 3): number | null {
  if (value === undefined || !Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * Runs `variants` in rotating order for `rounds` rounds (A B C, B C A, C A B, …), so that neither
 * machine drift nor "who goes first after an idle gap" favours one of them.
 */
export function alternation<T>(variants: readonly T[], rounds: number): T[] {
  const order: T[] = [];
  for (let r = 0; r < rounds; r++) for (let i = 0; i < variants.length; i++) order.push(variants[(r + i) % variants.length]!);
  return order;
}
