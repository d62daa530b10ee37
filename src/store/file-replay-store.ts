import { mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from '../core/knockgate-error.js';
import { MAX_REPLAY_DIGESTS, ReplayWindow, type RememberOutcome } from '../core/replay-window.js';
import type { Logger } from '../log/logger.js';
import { StoreError } from './grant-store.js';
import type { ReplayStore } from './replay-store.js';

/**
 * Journal lines beyond twice the live digests (plus this slack) trigger a rewrite; keeps the file,
 * and the work of loading it, proportional to what is live.
 */
const COMPACT_SLACK_LINES = 4_096;
/** A journal larger than this is not ours (or is damaged); it is moved aside rather than read. */
const MAX_JOURNAL_BYTES = 64 * 1024 * 1024;
const HEADER = '# knockgate SPA replay digests: <digest> <expires-at ms | never>\n';
const DIGEST = /^[A-Za-z0-9+/=]{16,128}$/;

export interface FileReplayStoreOptions {
  logger?: Logger;
  bound?: number;
  /**
   * For lines in fwknopd's digest.cache format (`<digest> <proto> <src> <sport> <dst> <dport> <time>`,
   * time = when received), how long after that time a digest may still be live: twice the age
   * window, since the packet's own timestamp may lie a window ahead of its arrival.
   */
  fwknopLineLifetimeMs?: number;
}

/**
 * Replay digests as an append-only journal: each new digest is one line, fsynced before the packet
 * is acted on, so a crash never forgets a used packet. At open (and when the journal has grown to
 * mostly expired lines) it is rewritten atomically with only live digests, like the grant journal.
 * Reads fwknopd's digest.cache lines too, so a host moving from fwknopd keeps its replay history.
 */
export class FileReplayStore implements ReplayStore {
  readonly name = 'file';
  private readonly window: ReplayWindow;
  private journal: FileHandle | undefined;
  private lines = 0;
  private writes: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    bound: number,
    private readonly logger: Logger | undefined,
  ) {
    this.window = new ReplayWindow(bound);
  }

  static async open(path: string, now: number, opts: FileReplayStoreOptions = {}): Promise<FileReplayStore> {
    const store = new FileReplayStore(path, opts.bound ?? MAX_REPLAY_DIGESTS, opts.logger);
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreError(`cannot create the directory of ${path}: ${describeError(err)}`, path, { cause: err });
    }
    await store.load(now, opts.fwknopLineLifetimeMs ?? 240_000);
    await store.compact(now);
    return store;
  }

  seen(digest: string, now: number): boolean {
    return this.window.has(digest, now);
  }

  remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    if (this.closed) return Promise.reject(new StoreError(`replay store ${this.path} is closed`, this.path));
    if (!DIGEST.test(digest)) return Promise.reject(new StoreError('not a replay digest', this.path));
    const outcome = this.window.remember(digest, expiresAt, now);
    if (outcome !== 'added' || expiresAt <= now) return Promise.resolve(outcome);
    const line = `${digest} ${Number.isFinite(expiresAt) ? Math.ceil(expiresAt) : 'never'}\n`;
    const write = this.writes.then(async () => {
      if (this.lines > 2 * this.window.size + COMPACT_SLACK_LINES) await this.compact(now);
      const journal = this.journal!;
      await journal.appendFile(line, 'utf8');
      await journal.datasync();
      this.lines += 1;
    });
    this.writes = write.catch(() => undefined);
    return write.then(
      () => outcome,
      (err: unknown) => {
        throw new StoreError(`cannot write replay journal ${this.path}: ${describeError(err)}`, this.path, { cause: err });
      },
    );
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.window.size, bound: this.window.bound };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    await this.journal?.close();
    this.journal = undefined;
  }

  private async load(now: number, fwknopLifetimeMs: number): Promise<void> {
    let text: string;
    try {
      const info = await stat(this.path);
      if (info.size > MAX_JOURNAL_BYTES) throw new Error(`${info.size} bytes, over ${MAX_JOURNAL_BYTES}`);
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Starting empty would forget used packets: refuse to start instead, and say why.
      throw new StoreError(`cannot read replay journal ${this.path}: ${describeError(err)}; move it aside to start afresh (used packets inside the age window would then be accepted again)`, this.path, { cause: err });
    }
    let skipped = 0;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      const digest = fields[0] ?? '';
      let expiresAt: number | undefined;
      if (fields.length === 2) expiresAt = fields[1] === 'never' ? Number.POSITIVE_INFINITY : Number(fields[1]);
      else if (fields.length === 7) expiresAt = Number(fields[6]) * 1000 + fwknopLifetimeMs;
      if (!DIGEST.test(digest) || expiresAt === undefined || Number.isNaN(expiresAt)) {
        skipped += 1;
        continue;
      }
      if (this.window.remember(digest, expiresAt, now) === 'full') {
        throw new StoreError(`replay journal ${this.path} holds more live digests than the bound ${this.window.bound}`, this.path);
      }
    }
    if (skipped > 0) this.logger?.warn({ file: this.path, skipped }, `replay journal: ${skipped} unreadable line(s) skipped`);
  }

  /** Rewrites the journal with the live digests only: temp file, fsync, rename, fsync of the directory. */
  private async compact(now: number): Promise<void> {
    this.window.sweep(now);
    const temp = `${this.path}.tmp`;
    const body = [...this.window.entries()].map(([d, e]) => `${d} ${Number.isFinite(e) ? Math.ceil(e) : 'never'}\n`).join('');
    try {
      const file = await open(temp, 'w', 0o600);
      try {
        await file.writeFile(HEADER + body, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await this.journal?.close();
      this.journal = undefined;
      await rename(temp, this.path);
      const dir = await open(dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.journal = await open(this.path, 'a', 0o600);
      this.lines = this.window.size;
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw new StoreError(`cannot rewrite replay journal ${this.path}: ${describeError(err)}`, this.path, { cause: err });
    }
  }
}
