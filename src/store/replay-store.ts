import type { RememberOutcome } from '../core/replay-window.js';

/**
 * SPA replay digests that must outlive the process (fwknopd's digest cache). Each
 * implementation is one file: file-replay-store.ts (a journal on disk), redis-replay-store.ts
 * (shared by several receivers).
 */
export interface ReplayStore {
  readonly name: string;
  /** Cheap, in memory, before any cryptography: whether this digest is known to be used. */
  seen(digest: string, now: number): boolean;
  /**
   * Marks a digest used until `expiresAt` (ms; Infinity = forever). `replay` if it already was
   * (also when another process won the race), `full` if the bound is reached and no digest has
   * expired. Resolves once the digest is durable; rejects with StoreError if it cannot be.
   */
  remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome>;
  /** Digests held, and the bound, for status. */
  stats(): { digests: number; bound: number };
  close(): Promise<void>;
}
