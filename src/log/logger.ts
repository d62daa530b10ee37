import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { openAppendNoFollowSync } from '../store/safe-file.js';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type { Logger };
export const LOG_FORMATS = ['auto', 'json', 'human'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** The pino levels an operator may choose; pino throws on any other name. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Append JSON lines to this file instead of writing to stdout. */
  file?: string;
  /** Also send each line to syslog (knockd's UseSyslog), through one `logger -t knockgate` process. */
  syslog?: boolean;
}

/**
 * JSON lines (for files, journald and machines) or a short human line on a TTY. Fields are the
 * same either way: `door`, `src`, `stage`, `outcome`, … so one grep works on both.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const human = opts.format === 'human' || (opts.format !== 'json' && !opts.file && process.stdout.isTTY === true);
  const primary: NodeJS.WritableStream = opts.file
    ? // Never through a link or into another user's file: the daemon may write as root.
      createWriteStream('', { fd: openAppendNoFollowSync(opts.file, 'log_file') })
    : human
      ? new HumanLines(process.stdout)
      : process.stdout;
  if (!opts.syslog) return pino({ level, base: undefined }, primary);
  return pino({ level, base: undefined }, pino.multistream([{ level, stream: primary }, { level, stream: syslogStream() }]));
}

/** Human lines into util-linux `logger`, which forwards them to syslog as ident knockgate. */
function syslogStream(): NodeJS.WritableStream {
  const child = spawn('logger', ['-t', 'knockgate'], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.unref();
  // If syslog is unavailable the daemon keeps running on its primary log.
  child.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  return new HumanLines(child.stdin, false);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Turns pino's JSON lines into `12:00:01 info  door=ssh src=10.0.0.2 message`. */
class HumanLines extends Writable {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly withTime = true,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const { level, time, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const when = this.withTime ? new Date(Number(time)).toISOString().slice(11, 19) + ' ' : '';
        const kv = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        this.out.write(`${when}${(LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${kv ? '  ' + kv : ''}\n`);
      } catch {
        this.out.write(line + '\n');
      }
    }
    done();
  }
}
