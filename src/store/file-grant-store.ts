import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { MAX_STORED_GRANTS, StoreError, type GrantStore, type StoredGrant } from './grant-store.js';

const JOURNAL_VERSION = 1;

const portSchema = z.object({ proto: z.enum(['tcp', 'udp']), port: z.number().int().min(0).max(65_535) });
const storedGrantSchema = z.object({
  id: z.string().min(1),
  door: z.string(),
  src: z.string(),
  family: z.union([z.literal(4), z.literal(6)]),
  ports: z.array(portSchema),
  grantedAt: z.number(),
  expiresAt: z.number(),
  gate: z.string().optional(),
  data: z.record(z.string(), z.json()).optional(),
});
const journalSchema = z.object({ version: z.literal(JOURNAL_VERSION), grants: z.array(storedGrantSchema) });

export interface FileGrantStoreOptions {
  /** Where a moved-aside corrupt journal is reported (also kept in `warnings`). */
  logger?: Logger;
  maxGrants?: number;
}

/**
 * The grant journal as one JSON file. Every change rewrites it atomically (temp file, fsync,
 * rename, fsync of the directory), so a crash leaves either the old or the new journal, never
 * half of one. A journal that cannot be read or parsed is moved aside and the store starts empty:
 * the daemon keeps running and the operator keeps the evidence.
 */
export class FileGrantStore implements GrantStore {
  /** What went wrong while loading (e.g. a corrupt journal moved aside); empty when all was well. */
  readonly warnings: string[] = [];
  private readonly records = new Map<string, StoredGrant>();
  private readonly tempPath: string;
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly maxGrants: number,
    private readonly logger: Logger | undefined,
  ) {
    this.tempPath = `${path}.tmp`;
  }

  /** Creates the parent directory (0700) if needed and loads the journal if there is one. */
  static async open(path: string, opts: FileGrantStoreOptions = {}): Promise<FileGrantStore> {
    const store = new FileGrantStore(path, opts.maxGrants ?? MAX_STORED_GRANTS, opts.logger);
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreError(`cannot create the directory of ${path}: ${describeError(err)}`, path, { cause: err });
    }
    await unlink(store.tempPath).catch(() => undefined);
    await store.load();
    return store;
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
    const text = JSON.stringify({ version: JOURNAL_VERSION, grants: [...this.records.values()] });
    try {
      const file = await open(this.tempPath, 'w', 0o600);
      try {
        await file.chmod(0o600);
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(this.tempPath, this.path);
      const dir = await open(dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      await unlink(this.tempPath).catch(() => undefined);
      throw new StoreError(`cannot write grant journal ${this.path}: ${describeError(err)}`, this.path, { cause: err });
    }
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await this.moveAside(`unreadable: ${describeError(err)}`);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      await this.moveAside(`not JSON: ${describeError(err)}`);
      return;
    }
    const parsed = journalSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      await this.moveAside(`not a grant journal: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
      return;
    }
    for (const record of parsed.data.grants) this.records.set(record.id, record as StoredGrant);
  }

  private async moveAside(reason: string): Promise<void> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '');
    const aside = `${this.path}.corrupt-${stamp}`;
    let warning: string;
    try {
      await rename(this.path, aside);
      warning = `grant journal ${this.path} ${reason}; moved to ${aside}, starting empty`;
    } catch (err) {
      warning = `grant journal ${this.path} ${reason}; could not move it aside (${describeError(err)}), starting empty`;
    }
    this.warnings.push(warning);
    this.logger?.warn({ file: this.path, movedTo: aside }, warning);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`grant store ${this.path} is closed`, this.path);
  }
}
