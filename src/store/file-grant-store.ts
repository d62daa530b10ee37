import { constants } from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { formatGrantJournal, salvageGrantJournal } from './grant-journal-format.js';
import { ACCEPT_DAMAGED_STATE_FLAG, DamagedStateError, MAX_STORED_GRANTS, StoreError, type GrantStore, type StoredGrant } from './grant-store.js';
import { assertOwnedFile, openNoFollow, readOwnedFile, syncDirectory, writeFileAtomic } from './safe-file.js';
import { ensureTrustedDir } from './state-dir.js';

/** The journal at MAX_STORED_GRANTS is ~1 MB; a file far larger is not ours. */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

export interface FileGrantStoreOptions {
  /** Where salvage and set-aside records are reported (also kept in `warnings`). */
  logger?: Logger;
  maxGrants?: number;
  /**
   * Start even if some records cannot be recovered (serve --accept-damaged-state): the damaged
   * file is kept beside the journal as evidence and the salvaged records carry on.
   */
  acceptDamaged?: boolean;
}

/**
 * The grant journal as one file in the state directory (grant-journal-format.ts). Every change
 * rewrites it atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves the
 * old or the new journal, never half of one. Nothing on disk is trusted that the daemon's user did
 * not write: the directory and the file must be its own (state-dir.ts, safe-file.ts), and each
 * record is checksummed. A damaged journal is salvaged record by record; when something is lost,
 * opening fails with DamagedStateError unless the operator accepts it.
 */
export class FileGrantStore implements GrantStore {
  /** What went wrong while loading (records salvaged, a damaged journal kept aside); empty when all was well. */
  readonly warnings: string[] = [];
  private readonly records = new Map<string, StoredGrant>();
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly maxGrants: number,
    private readonly logger: Logger | undefined,
  ) {}

  /** Creates the directory (0700) if needed, refuses one that is not trustworthy, and loads the journal if there is one. */
  static async open(path: string, opts: FileGrantStoreOptions = {}): Promise<FileGrantStore> {
    const store = new FileGrantStore(path, opts.maxGrants ?? MAX_STORED_GRANTS, opts.logger);
    await ensureTrustedDir(dirname(path));
    await store.load(opts.acceptDamaged === true);
    return store;
  }

  /** Where records the daemon cannot act on are moved, one JSON line each. */
  get setAsidePath(): string {
    return `${this.path}.set-aside`;
  }

  async put(record: StoredGrant): Promise<void> {
    this.assertOpen();
    const before = this.records.get(record.id);
    if (!before && this.records.size >= this.maxGrants) {
      throw new StoreError(`grant store full (${this.maxGrants} grants); refusing ${record.id}`, this.path);
    }
    const copy = structuredClone(record);
    this.records.set(record.id, copy);
    try {
      await this.persist();
    } catch (err) {
      if (this.records.get(record.id) === copy) {
        if (before) this.records.set(record.id, before);
        else this.records.delete(record.id);
      }
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    this.assertOpen();
    const before = this.records.get(id);
    if (!before) return;
    this.records.delete(id);
    try {
      await this.persist();
    } catch (err) {
      if (!this.records.has(id)) this.records.set(id, before);
      throw err;
    }
  }

  /** Appends the record and its reason to the side file (durably), then drops it from the journal. */
  async setAside(id: string, reason: string): Promise<void> {
    this.assertOpen();
    const record = this.records.get(id);
    if (!record) return;
    const line = JSON.stringify({ setAsideAt: new Date().toISOString(), reason, record }) + '\n';
    try {
      const file = await openNoFollow(this.setAsidePath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 'set-aside grant file');
      try {
        assertOwnedFile(await file.stat(), this.setAsidePath, 'set-aside grant file');
        await file.writeFile(line, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
    } catch (err) {
      throw new StoreError(`cannot set aside grant ${id} in ${this.setAsidePath}: ${describeError(err)}`, this.path, { cause: err });
    }
    await this.remove(id);
  }

  async list(): Promise<StoredGrant[]> {
    this.assertOpen();
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await (this.queued ?? this.inFlight)?.catch(() => undefined);
  }

  /**
   * At most one write runs and one waits: a change made while a write runs joins the waiting one,
   * which snapshots the table when it starts, so bursts of changes cost two writes, not one each.
   */
  private persist(): Promise<void> {
    if (this.queued) return this.queued;
    const prior = this.inFlight ?? Promise.resolve();
    const queued = prior
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        const write = this.writeSnapshot();
        this.inFlight = write;
        const clear = (): void => {
          if (this.inFlight === write) this.inFlight = undefined;
        };
        write.then(clear, clear);
        return write;
      });
    this.queued = queued;
    return queued;
  }

  private async writeSnapshot(): Promise<void> {
    try {
      await writeFileAtomic(this.path, formatGrantJournal(this.records.values()), 'grant journal');
    } catch (err) {
      throw new StoreError(`cannot write grant journal ${this.path}: ${describeError(err)}`, this.path, { cause: err });
    }
  }

  private async load(acceptDamaged: boolean): Promise<void> {
    const bytes = await readOwnedFile(this.path, 'grant journal', MAX_JOURNAL_BYTES);
    if (bytes === undefined) return;
    const salvaged = salvageGrantJournal(bytes.toString('utf8'));
    if (salvaged.lost.length > 0 && !acceptDamaged) {
      throw new DamagedStateError(
        `grant journal ${this.path} is damaged and not every pending stop in it can be recovered (${salvaged.lost.join('; ')}). ` +
          `A stop that never runs leaves what its start opened open, so knockgate will not start on it. Close by hand what the lost records may have opened, ` +
          `then start once with \`knockgate serve ${ACCEPT_DAMAGED_STATE_FLAG}\` (the damaged file is kept beside the journal)`,
        this.path,
        salvaged.lost,
      );
    }
    for (const record of salvaged.records) {
      if (this.records.size >= this.maxGrants) throw new StoreError(`grant journal ${this.path} holds more than ${this.maxGrants} records`, this.path);
      this.records.set(record.id, record);
    }
    if (salvaged.dueNow > 0) this.warn(`grant journal ${this.path}: ${salvaged.dueNow} record(s) damaged after their door and source; their stops run at once`);
    if (salvaged.lost.length > 0) {
      const aside = `${this.path}.damaged-${new Date().toISOString().replace(/[:.]/g, '')}`;
      await rename(this.path, aside);
      await syncDirectory(dirname(this.path));
      await this.writeSnapshot();
      this.warn(`grant journal ${this.path} was damaged (${salvaged.lost.join('; ')}); accepted with ${ACCEPT_DAMAGED_STATE_FLAG}: ${salvaged.records.length} record(s) salvaged, the damaged file kept as ${aside}`, 'error');
    }
  }

  private warn(message: string, level: 'warn' | 'error' = 'warn'): void {
    this.warnings.push(message);
    this.logger?.[level]({ file: this.path, outcome: 'journal-salvaged' }, message);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`grant store ${this.path} is closed`, this.path);
  }
}
