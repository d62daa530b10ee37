import { constants } from 'node:fs';
import { rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MAX_REPLAY_DIGESTS, ReplayWindow, type Deadline, type RememberOutcome } from '../core/replay-window.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { bootId, monotonicNow } from './clock.js';
import { ACCEPT_DAMAGED_STATE_FLAG, DamagedStateError, StoreError } from './grant-store.js';
import { formatKeyHeader, formatKeyLine, readKeyJournal, type KeyLineOptions } from './key-journal-format.js';
import { assertOwnedFile, openNoFollow, readOwnedFile, syncDirectory, writeFileAtomic } from './safe-file.js';
import { ensureTrustedDir } from './state-dir.js';

/**
 * Journal lines beyond twice the live keys (plus this slack) trigger a rewrite; keeps the file,
 * and the work of loading it, proportional to what is live.
 */
const COMPACT_SLACK_LINES = 4_096;
/** A journal larger than this is not ours (or is damaged): ~110 bytes a line, far past the bound. */
const MAX_JOURNAL_BYTES = 64 * 1024 * 1024;
/**
 * A key whose monotonic deadline cannot be used (written in another boot, or by an older format)
 * is kept this long past its wall-clock deadline: a host that boots with its clock hours off (an
 * RTC in local time, a dead battery) and is then corrected must not forget a used packet.
 */
export const REBOOT_KEEP_MARGIN_MS = 24 * 60 * 60 * 1000;

export interface FileKeyJournalOptions extends KeyLineOptions {
  /** What the journal holds, for its header and messages ("SPA replay digests"). */
  kind: string;
  /** How the operator names the file in messages ("replay journal"). */
  what: string;
  logger?: Logger;
  bound?: number;
  /** Deadline given to a key whose line kept the key but lost its times: long enough for any window. */
  damagedLifetimeMs: number;
  acceptDamaged?: boolean;
  /** Monotonic ms; CLOCK_MONOTONIC by default. For tests. */
  mono?: () => number;
  /** Boot id; the kernel's by default. For tests. */
  boot?: string;
}

/** One key line waiting for its write, and who waits for it to be durable. */
interface QueuedLine {
  line: string;
  now: number;
  settle: (err?: unknown) => void;
}

/** Lines in one append: bounds one write's size (~100 bytes a line) and how long a batch holds the next one back. */
const MAX_LINES_PER_WRITE = 4096;

/**
 * Expiring keys as an append-only journal (key-journal-format.ts): each new key is one line,
 * made durable (with the others of its batch, by an O_DSYNC write) before the caller acts on it, so a crash never forgets one. At open (and when the
 * journal has grown to mostly expired lines) it is rewritten atomically with the live keys only.
 * Keys expire by both clocks (ReplayWindow); the monotonic deadlines hold across restarts within
 * one boot. Nothing is read that the daemon's user did not write (safe-file.ts, state-dir.ts).
 */
export class FileKeyJournal {
  readonly window: ReplayWindow;
  /** What went wrong while loading (salvaged lines, a torn last line, a damaged file kept aside). */
  readonly warnings: string[] = [];
  readonly mono: () => number;
  private journal: FileHandle | undefined;
  private lines = 0;
  /** Lines waiting for the next write; bounded by the callers' own pending bound (MAX_PENDING_SPA). */
  private readonly queue: QueuedLine[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly boot: string;

  private constructor(
    readonly path: string,
    private readonly opts: FileKeyJournalOptions,
  ) {
    this.window = new ReplayWindow(opts.bound ?? MAX_REPLAY_DIGESTS);
    this.mono = opts.mono ?? monotonicNow;
    this.boot = opts.boot ?? bootId();
  }

  static async open(path: string, now: number, opts: FileKeyJournalOptions): Promise<FileKeyJournal> {
    const journal = new FileKeyJournal(path, opts);
    await ensureTrustedDir(dirname(path), `directory of the ${opts.what}`);
    await journal.load(now);
    await journal.compact(now);
    return journal;
  }

  has(key: string, now: number): boolean {
    return this.window.has(key, now, this.mono);
  }

  /** Takes the key into memory at once, then resolves once its line is durable (rejects with StoreError if it cannot be). */
  add(key: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    if (this.closed) return Promise.reject(new StoreError(`${this.opts.what} ${this.path} is closed`, this.path));
    if (!this.opts.isKey(key)) return Promise.reject(new StoreError(`not a key for the ${this.opts.what}`, this.path));
    const mono = this.mono();
    const outcome = this.window.remember(key, expiresAt, now, mono);
    if (outcome !== 'added' || expiresAt <= now) return Promise.resolve(outcome);
    const line = formatKeyLine(key, { wall: expiresAt, mono: mono + (expiresAt - now) });
    const durable = new Promise<void>((resolve, reject) => this.queue.push({ line, now, settle: (err) => (err === undefined ? resolve() : reject(err)) }));
    this.flushing ??= this.flush();
    return durable.then(
      () => outcome,
      (err: unknown) => {
        throw new StoreError(`cannot write ${this.opts.what} ${this.path}: ${describeError(err)}`, this.path, { cause: err });
      },
    );
  }

  /**
   * Group commit: every line queued while the previous write ran goes out in one append, durable
   * when it returns (the journal is open O_DSYNC: the write and its flush in one system call, one
   * thread-pool hop where write then fdatasync took two, 55-135 µs less a lone packet on the
   * bench VM), so a burst of valid packets costs one disk flush per batch, not one each; the
   * first line of an idle journal is written at once, so a lone packet waits for nothing else.
   */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_LINES_PER_WRITE);
      try {
        if (this.lines > 2 * this.window.size + COMPACT_SLACK_LINES) await this.compact(batch[batch.length - 1]!.now);
        // One write for the batch (~400 KiB at most, under Node's 512 KiB chunk), durable on return.
        await this.journal!.appendFile(batch.map((q) => q.line).join(''), 'utf8');
        this.lines += batch.length;
        for (const q of batch) q.settle();
      } catch (err) {
        for (const q of batch) q.settle(err);
      }
    }
    this.flushing = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.journal?.close();
    this.journal = undefined;
  }

  private async load(now: number): Promise<void> {
    const bytes = await readOwnedFile(this.path, this.opts.what, MAX_JOURNAL_BYTES);
    if (bytes === undefined) return;
    const reading = readKeyJournal(bytes.toString('utf8'), this.opts);
    if (reading.lost.length > 0 && !this.opts.acceptDamaged) {
      throw new DamagedStateError(
        `${this.opts.what} ${this.path} is damaged (${reading.lost.join('; ')}): a key on a damaged line is lost, and with it the refusal it stands for (a used SPA packet would open again). ` +
          `knockgate will not start on it. Once every packet age window since the damage has passed, or if you accept the risk, start once with \`knockgate serve ${ACCEPT_DAMAGED_STATE_FLAG}\` (the damaged file is kept beside the journal)`,
        this.path,
        reading.lost,
      );
    }
    const mono = this.mono();
    const sameBoot = reading.header?.boot === this.boot;
    let damagedTimes = 0;
    for (const k of reading.keys) {
      let deadline: Deadline;
      if (k.damagedTimes) {
        damagedTimes++;
        deadline = { wall: now + this.opts.damagedLifetimeMs, mono: mono + this.opts.damagedLifetimeMs };
      } else if (sameBoot && k.mono !== undefined) {
        deadline = { wall: k.wall, mono: k.mono };
      } else {
        const wall = k.wall + REBOOT_KEEP_MARGIN_MS;
        deadline = { wall, mono: mono + Math.max(0, wall - now) };
      }
      if (this.window.restore(k.key, deadline, now, mono) === 'full') {
        throw new StoreError(`${this.opts.what} ${this.path} holds more live keys than the bound ${this.window.bound}`, this.path);
      }
    }
    if (damagedTimes > 0) this.warn(`${this.opts.what} ${this.path}: ${damagedTimes} line(s) damaged after their key; kept for ${this.opts.damagedLifetimeMs} ms`);
    if (reading.tornTail) this.warn(`${this.opts.what} ${this.path}: the last line was cut short (an append a crash interrupted, never acted on); dropped`);
    if (reading.lost.length > 0) {
      const aside = `${this.path}.damaged-${new Date(now).toISOString().replace(/[:.]/g, '')}`;
      await rename(this.path, aside);
      await syncDirectory(dirname(this.path));
      this.warn(`${this.opts.what} ${this.path} was damaged (${reading.lost.join('; ')}); accepted with ${ACCEPT_DAMAGED_STATE_FLAG}: ${reading.keys.length} key(s) salvaged, the damaged file kept as ${aside}`, 'error');
    }
  }

  /** Rewrites the journal with the live keys only, then appends to the new file. */
  private async compact(now: number): Promise<void> {
    const mono = this.mono();
    this.window.sweep(now, mono);
    const body = [...this.window.entries()].map(([key, d]) => formatKeyLine(key, d)).join('');
    try {
      await this.journal?.close();
      this.journal = undefined;
      await writeFileAtomic(this.path, formatKeyHeader(this.opts.kind, this.boot) + body, this.opts.what);
      const journal = await openNoFollow(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_DSYNC, this.opts.what);
      assertOwnedFile(await journal.stat(), this.path, this.opts.what);
      this.journal = journal;
      this.lines = this.window.size;
    } catch (err) {
      throw new StoreError(`cannot rewrite ${this.opts.what} ${this.path}: ${describeError(err)}`, this.path, { cause: err });
    }
  }

  private warn(message: string, level: 'warn' | 'error' = 'warn'): void {
    this.warnings.push(message);
    this.opts.logger?.[level]({ file: this.path, outcome: 'journal-salvaged' }, message);
  }
}
