import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { KnockdLines, knockdFileLine, knockdSyslogLine } from './knockd-log-lines.js';
import { LogBudget, OTHER_KIND, type Suppressed } from './log-budget.js';
import { isJournalStream, journalPriority } from './journal-priority.js';
import { LogFileSink, type LogWriteStats } from './log-file.js';

export type { Logger };
export const LOG_FORMATS = ['auto', 'json', 'human'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** The pino levels an operator may choose; pino throws on any other name. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Append lines to this file instead of writing to stdout. */
  file?: string;
  /** Also send each line to syslog (knockd's UseSyslog), through one util-linux `logger` process. */
  syslog?: boolean;
  /**
   * The config is a knockd.conf: the file gets knockd's `[YYYY-MM-DD HH:MM] message` lines and
   * syslog knockd's ident and facility (knockd, daemon.notice). knockgate's own config logs JSON.
   */
  knockdFormat?: boolean;
  /** Lines of one kind written per second (see log-budget.ts); the default unless a test says otherwise. */
  budget?: LogBudget;
}

/** What the log did: for `knockgate status`, where a failing log file is reported. */
export interface LogStats {
  /** Lines the per-second budget left out (a summary line says how many, each second). */
  suppressed: number;
  file?: LogWriteStats;
  /** Writes to stdout or to syslog that failed. */
  streamErrors: number;
}

interface LogControl {
  stats(): LogStats;
  reopen(): void;
}
const controls = new WeakMap<Logger, LogControl>();
/** Failed writes to stdout, counted once for the process (one listener, however many loggers). */
const stdout = { errors: 0, guarded: false };

/** The log's counters; zeros for a logger that createLogger did not make. */
export function logStats(logger: Logger): LogStats {
  return controls.get(logger)?.stats() ?? { suppressed: 0, streamErrors: 0 };
}

/** Opens the log file again, as after logrotate moved it (knockd does so on SIGHUP). */
export function reopenLogFile(logger: Logger): void {
  controls.get(logger)?.reopen();
}

/**
 * JSON lines (for files, journald and machines) or a short human line on a TTY, with the same
 * fields either way (`door`, `src`, `stage`, `outcome`, …) so one grep works on both; knockd's
 * formats for a knockd.conf. Every kind of line has a per-second budget, and no write error on
 * any destination stops the daemon.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const human = opts.format === 'human' || (opts.format !== 'json' && !opts.file && process.stdout.isTTY === true);
  const errors = { stream: 0 };
  const file = opts.file === undefined ? undefined : new LogFileSink(opts.file);
  let primary: pino.DestinationStream;
  if (file) primary = opts.knockdFormat ? new KnockdLines((t) => file.write(t), knockdFileLine) : file;
  else {
    if (!stdout.guarded) {
      // EPIPE on a closed stdout (journald restarted) is counted, not thrown at the daemon.
      process.stdout.on('error', () => stdout.errors++);
      stdout.guarded = true;
    }
    const journal = isJournalStream(1);
    primary = human ? new HumanLines(process.stdout, true, journal) : journal ? new JournalJsonLines(process.stdout) : process.stdout;
  }
  const streams: pino.StreamEntry[] = [{ level: level as pino.Level, stream: primary }];
  if (opts.syslog) streams.push({ level: level as pino.Level, stream: syslogStream(opts.knockdFormat === true, errors) });
  const budget = opts.budget ?? new LogBudget();
  let logger!: Logger;
  const summarise = (s: Suppressed): void =>
    logger.warn({ outcome: 'suppressed', kind: s.kind, suppressed: s.count }, `suppressed ${s.count} "${s.kind}" line(s) in one second (the log writes at most ${budget.perSecond} of a kind a second)`);
  logger = pino(
    {
      level,
      base: undefined,
      hooks: {
        logMethod(args, method) {
          const kind = kindOf(args);
          if (kind === 'suppressed' || budget.take(kind, summarise)) method.apply(this, args);
        },
      },
    },
    streams.length === 1 ? primary : pino.multistream(streams),
  );
  // Summaries of kinds that went quiet after a burst; the timer never keeps the process alive.
  setInterval(() => budget.drain().forEach(summarise), 1_000).unref();
  controls.set(logger, {
    stats: () => ({ suppressed: budget.suppressedTotal, ...(file && { file: { ...file.stats, errors: { ...file.stats.errors } } }), streamErrors: errors.stream + (file ? 0 : stdout.errors) }),
    reopen: () => file?.reopen(),
  });
  return logger;
}

/**
 * The budget's kind of a pino call: its `outcome` with its `reason` (`reset:wrong-knock`, so a
 * flood of wrong knocks leaves the timeouts' budget alone), else its message.
 */
function kindOf(args: unknown[]): string {
  const [first, second] = args;
  if (typeof first === 'string') return first;
  if (first !== null && typeof first === 'object') {
    const { outcome, reason } = first as { outcome?: unknown; reason?: unknown };
    if (typeof outcome === 'string') return typeof reason === 'string' ? `${outcome}:${reason}` : outcome;
    if (typeof second === 'string') return second;
  }
  return OTHER_KIND;
}

/**
 * Lines into util-linux `logger`, which sends them to syslog: knockd's ident, facility and text
 * for a knockd.conf (`--prio-prefix` carries each line's priority); human lines as ident
 * knockgate otherwise.
 */
function syslogStream(knockdFormat: boolean, errors: { stream: number }): pino.DestinationStream {
  const args = knockdFormat ? ['-t', 'knockd', '--prio-prefix'] : ['-t', 'knockgate'];
  const child = spawn('logger', args, { stdio: ['pipe', 'ignore', 'ignore'] });
  child.unref();
  // If syslog is unavailable the daemon keeps running on its primary log.
  child.on('error', () => errors.stream++);
  child.stdin.on('error', () => errors.stream++);
  const write = (text: string): void => {
    if (child.stdin.writable) child.stdin.write(text);
    else errors.stream++;
  };
  return knockdFormat ? new KnockdLines(write, knockdSyslogLine) : new HumanLines(child.stdin, false);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Turns pino's JSON lines into `2026-12-03T09:30:00.123Z info 10.0.0.2: ssh: Stage 1  door=ssh …`:
 * ISO 8601 time in UTC and the level's name. Under systemd (`journal`) each line starts with its
 * sd-daemon priority instead of the time, which journald records itself.
 */
class HumanLines extends Writable {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly withTime = true,
    private readonly journal = false,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const { level, time, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const start = this.journal ? `<${journalPriority(Number(level))}>` : this.withTime ? new Date(Number(time)).toISOString() + ' ' : '';
        const kv = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        this.out.write(`${start}${LEVEL_NAMES[Number(level)] ?? String(level)} ${String(msg ?? '')}${kv ? '  ' + kv : ''}\n`);
      } catch {
        this.out.write(line + '\n');
      }
    }
    done();
  }
}

/** pino's JSON lines, each prefixed with its sd-daemon priority (`<6>{"level":30,…}`) for journald; the JSON is unchanged. */
class JournalJsonLines {
  constructor(private readonly out: NodeJS.WritableStream) {}

  write(chunk: string): boolean {
    // pino writes `{"level":N,` first (no base fields), so the level is read without parsing the line.
    return this.out.write(chunk.replace(/^\{"level":(\d+)/gm, (line, level: string) => `<${journalPriority(Number(level))}>${line}`));
  }
}
