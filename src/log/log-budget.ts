/**
 * A per-second budget for each kind of log line. A spoofed flood makes one stage line (and
 * often one reset or refusal line) per packet; without a bound 20,000 spoofed SYNs wrote ~4 MB
 * to a knockd.conf LogFile. Past the budget, lines of that kind are counted instead of written,
 * and one summary line says how many were left out once their second is over.
 */

/**
 * Lines of one kind written per second. Twenty knockd-style clients completing three-knock
 * sequences in the same second stay within it; a flood costs at most this many lines a second
 * per kind, ~5 KB/s for stage lines.
 */
export const LOG_LINES_PER_KIND_PER_SECOND = 50;
/**
 * Kinds tracked apart. A kind is a line's `outcome`, or its message for lines without one; a
 * message that carries an address would make a kind per source, so past this many the rest share
 * one budget instead of growing the table.
 */
export const MAX_LOG_KINDS = 256;
/** The kind lines fall into once MAX_LOG_KINDS are tracked. */
export const OTHER_KIND = 'other';
const WINDOW_MS = 1_000;

interface Window {
  start: number;
  used: number;
  suppressed: number;
}

export interface Suppressed {
  kind: string;
  count: number;
  /** When the second those lines fell in began, ms. */
  since: number;
}

export class LogBudget {
  private readonly windows = new Map<string, Window>();
  private total = 0;

  constructor(
    readonly perSecond: number = LOG_LINES_PER_KIND_PER_SECOND,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError(`perSecond must be a positive integer, got ${perSecond}`);
  }

  /**
   * Whether a line of `kind` may be written now. When its kind's previous second left lines out,
   * `ended` receives that count first, so the summary comes before the line that follows it.
   */
  take(kind: string, ended?: (s: Suppressed) => void): boolean {
    const now = this.now();
    const key = this.windows.has(kind) || this.windows.size < MAX_LOG_KINDS ? kind : OTHER_KIND;
    let w = this.windows.get(key);
    if (w === undefined) {
      w = { start: now, used: 0, suppressed: 0 };
      this.windows.set(key, w);
    } else if (now - w.start >= WINDOW_MS) {
      if (w.suppressed > 0) ended?.({ kind: key, count: w.suppressed, since: w.start });
      w.start = now;
      w.used = 0;
      w.suppressed = 0;
    }
    if (w.used < this.perSecond) {
      w.used++;
      return true;
    }
    w.suppressed++;
    this.total++;
    return false;
  }

  /** Kinds whose second is over with lines left out (their summaries are due); forgets idle kinds. */
  drain(): Suppressed[] {
    const now = this.now();
    const due: Suppressed[] = [];
    for (const [kind, w] of this.windows) {
      if (now - w.start < WINDOW_MS) continue;
      if (w.suppressed > 0) due.push({ kind, count: w.suppressed, since: w.start });
      this.windows.delete(kind);
    }
    return due;
  }

  /** Lines left out since the start. */
  get suppressedTotal(): number {
    return this.total;
  }
}
