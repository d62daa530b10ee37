import { closeSync, writeSync } from 'node:fs';
import { openAppendNoFollowSync } from '../store/safe-file.js';
import { journalPriority, writeStderr } from './journal-priority.js';

/**
 * Appends log lines to a file and never lets the file take the daemon down once it runs: a full
 * disk (ENOSPC), a read-only remount (EROFS), a file that cannot be reopened are counted, reported
 * on stderr now and then, and the lines are dropped; writing resumes by itself once it works
 * again. fs.createWriteStream emitted those as an 'error' event nobody handled, and the daemon
 * died. The file is opened as the daemon's own files are (never through a link, never another
 * user's): at start a file that cannot be opened so is refused, the daemon does not start.
 *
 * Writes are synchronous, as knockd's fprintf + fflush: lines land in order, nothing waits in
 * memory, and the log budget keeps their number per second small.
 */

/** How often a failing log may be reported on stderr. */
export const LOG_ERROR_REPORT_INTERVAL_MS = 60_000;
/** How often a file that could not be opened is tried again. */
export const LOG_REOPEN_INTERVAL_MS = 10_000;

export interface LogWriteStats {
  /** Lines that reached the file. */
  written: number;
  /** Writes or opens that failed, by error code (each failed write dropped what it carried). */
  errors: Record<string, number>;
  /** Lines dropped: failed writes, and lines while the file could not be opened. */
  dropped: number;
}

export class LogFileSink {
  private fd: number | undefined;
  private lastOpenAttempt = 0;
  private lastReport = -Infinity;
  private unreported = 0;
  readonly stats: LogWriteStats = { written: 0, errors: {}, dropped: 0 };

  /** Throws (UnsafeFileError, or the open's error) when the file cannot be opened at all. */
  constructor(
    readonly file: string,
    private readonly report: (line: string) => void = (line) => writeStderr(line, journalPriority(40)),
    private readonly now: () => number = Date.now,
    private readonly openFile: (path: string) => number = (path) => openAppendNoFollowSync(path, 'log_file'),
  ) {
    this.fd = openFile(file);
    this.lastOpenAttempt = now();
  }

  /** pino's destination interface: one or more complete lines. */
  write(chunk: string): boolean {
    const lines = countLines(chunk);
    if (this.fd === undefined && !this.open()) {
      // The failed reopen was counted; its lines are lost until an open works.
      this.drop(lines);
      return true;
    }
    const bytes = Buffer.from(chunk, 'utf8');
    try {
      const n = writeSync(this.fd!, bytes);
      // A short write is what a disk that just filled up gives: the rest of the lines are lost.
      if (n < bytes.length) this.fail('ENOSPC', lines - countLines(bytes.subarray(0, n).toString('utf8')), `took ${n} of ${bytes.length} bytes`);
      else this.stats.written += lines;
    } catch (err) {
      this.fail(codeOf(err), lines, (err as Error).message);
    }
    return true;
  }

  /**
   * Opens the file again (after logrotate moved it away). When that fails the error is counted
   * and the lines keep going where they went: into the moved file rather than nowhere.
   */
  reopen(): void {
    const old = this.fd;
    this.fd = undefined;
    this.lastOpenAttempt = 0;
    if (this.open()) {
      if (old !== undefined) closeQuietly(old);
    } else this.fd = old;
  }

  close(): void {
    if (this.fd !== undefined) closeQuietly(this.fd);
    this.fd = undefined;
  }

  private open(): boolean {
    const now = this.now();
    if (this.lastOpenAttempt !== 0 && now - this.lastOpenAttempt < LOG_REOPEN_INTERVAL_MS) return false;
    this.lastOpenAttempt = now;
    try {
      this.fd = this.openFile(this.file);
      return true;
    } catch (err) {
      this.fail(codeOf(err), 0, `cannot be opened: ${(err as Error).message}`);
      return false;
    }
  }

  private drop(lines: number): void {
    this.stats.dropped += lines;
    this.unreported += lines;
  }

  private fail(code: string, lines: number, detail: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
    this.drop(lines);
    const now = this.now();
    if (now - this.lastReport < LOG_ERROR_REPORT_INTERVAL_MS) return;
    this.lastReport = now;
    this.report(`knockgate: log file ${this.file}: ${detail} (${code}); ${this.unreported} line(s) dropped since the last report; the daemon keeps running and retries\n`);
    this.unreported = 0;
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function codeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing a descriptor whose disk failed can fail too; it is gone either way.
  }
}
