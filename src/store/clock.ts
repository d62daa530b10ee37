import { readFileSync } from 'node:fs';

/**
 * The clocks the stores read besides the wall clock. CLOCK_MONOTONIC (what process.hrtime reads)
 * counts from boot for every process alike, so within one boot a restarted daemon can still tell
 * how much real time has passed, whatever the wall clock did meanwhile.
 */

/** Milliseconds on CLOCK_MONOTONIC. */
export function monotonicNow(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** The kernel's id of this boot; monotonic times from another boot mean nothing here. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
