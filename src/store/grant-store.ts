import type { Grant } from '../core/grant.js';
import { KnockgateError } from '../core/knockgate-error.js';

/**
 * Grants that must outlive the process: a gate records what it still owes (e.g. a pending stop
 * command) before it acts, so that after a crash the next process can settle the debt. A record
 * holds only what the current config can act on again (gate, door, source, family, ports, times):
 * never a command, so whatever is on disk can at most ask for a door's own configured stop.
 */

/**
 * Each stored grant is a pending close the daemon owes someone, and the file store rewrites the
 * whole journal on every change: 10,000 (~1 MB) is far beyond the doors a bastion's operators
 * hold open at once while keeping each rewrite cheap. Past it, new grants are refused rather than
 * any pending close being dropped.
 */
export const MAX_STORED_GRANTS = 10_000;

export interface StoredGrant extends Omit<Grant, 'nat'> {
  /** Name of the gate that wrote the record, so one store can serve several gates. */
  gate: string;
}

export interface GrantStore {
  /** Adds or replaces the record with `record.id`; resolves once it is durable. */
  put(record: StoredGrant): Promise<void>;
  /** Forgets a record; removing an unknown id is not an error. */
  remove(id: string): Promise<void>;
  /**
   * Moves a record the daemon cannot act on (its door left the config) out of the journal into a
   * side file the operator can read, with the reason; nothing is forgotten silently.
   */
  setAside(id: string, reason: string): Promise<void>;
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

/**
 * A journal with records that cannot be recovered: the daemon refuses to start on it (what was
 * lost may be a stop that never runs, or a used packet) unless the operator accepts the loss.
 */
export class DamagedStateError extends KnockgateError {
  readonly code = 'store.damaged';
  constructor(
    message: string,
    readonly file: string,
    /** What was found, one line per problem. */
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'DamagedStateError';
  }
}

/** The serve flag that accepts a damaged journal (salvaged records kept, the damaged file kept aside). */
export const ACCEPT_DAMAGED_STATE_FLAG = '--accept-damaged-state';
