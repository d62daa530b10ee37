import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'auto' | 'json' | 'human';

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Append JSON lines to this file instead of writing to stdout. */
  file?: string;
}

/**
 * JSON lines (for files, journald and machines) or a short human line on a TTY. Fields are the
 * same either way: `door`, `src`, `stage`, `outcome`, … so one grep works on both.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (opts.file) {
    return pino({ level, base: undefined }, createWriteStream(opts.file, { flags: 'a', mode: 0o640 }));
  }
  const human = opts.format === 'human' || (opts.format !== 'json' && process.stdout.isTTY === true);
  if (!human) return pino({ level, base: undefined }, process.stdout);
  return pino({ level, base: undefined }, new HumanLines(process.stdout));
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Turns pino's JSON lines into `12:00:01 info  door=ssh src=10.0.0.2 message`. */
class HumanLines extends Writable {
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const { level, time, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const when = new Date(Number(time)).toISOString().slice(11, 19);
        const kv = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        this.out.write(`${when} ${(LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${kv ? '  ' + kv : ''}\n`);
      } catch {
        this.out.write(line + '\n');
      }
    }
    done();
  }
}
