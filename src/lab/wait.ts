import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between checks; 50 ms unless told. */
  intervalMs?: number;
  /** What is awaited, for the timeout message ("knockd to start"). */
  what?: string;
}

/**
 * Poll `predicate` until it returns something truthy, and return that. Bounded in time: throws
 * once `timeoutMs` has passed without success. A predicate that throws ends the wait with its error.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = Math.max(1, opts.intervalMs ?? 50);
  // Bounded in count as well as in time, so a predicate that ignores the clock cannot spin forever.
  const maxChecks = Math.ceil(opts.timeoutMs / interval) + 1;
  for (let check = 1; check <= maxChecks; check++) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(interval, deadline - Date.now()));
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what ?? 'a condition'}`);
}
