import type { Grant } from '../core/grant.js';
import { KnockgateError } from '../core/knockgate-error.js';

/**
 * Grants that must outlive the process: a gate records what it still owes (e.g. a pending stop
 * command) before it acts, so that after a crash the next process can settle the debt.
 */

/**
 * Each stored grant is a pending close the daemon owes someone, and the file store rewrites the
 * whole journal on every change: 10,000 (~3 MB of JSON) is far beyond the doors a bastion's
 * operators hold open at once while keeping each rewrite cheap. Past it, new grants are refused
 * rather than any pending close being dropped.
 */
export const MAX_STORED_GRANTS = 10_000;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface StoredGrant extends Grant {
  /** Name of the gate that wrote the record, so one store can serve several gates. */
  gate?: string;
  /** What that gate needs after a restart (e.g. the expanded stop command). JSON values only. */
  data?: { [key: string]: JsonValue };
}

export interface GrantStore {
  /** Adds or replaces the record with `record.id`; resolves once it is durable. */
  put(record: StoredGrant): Promise<void>;
  /** Forgets a record; removing an unknown id is not an error. */
  remove(id: string): Promise<void>;
  list(): Promise<StoredGrant[]>;
  /** Waits for pending writes; the store refuses use afterwards. */
  close(): Promise<void>;
}

export class StoreError extends KnockgateError {
  readonly code = 'store.failed';

  constructor(
    message: string,
    /** The journal file involved, when the store has one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, ...(file !== undefined && { nextStep: `check that ${file} and its directory are writable by knockgate and the disk has room` }) });
    this.name = 'StoreError';
  }
}
