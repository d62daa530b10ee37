/**
 * knockd's two log formats, for a daemon run from a knockd.conf (knockd.c logprint): LogFile
 * lines `[YYYY-MM-DD HH:MM] message` in local time, and syslog messages as ident `knockd`,
 * facility daemon, level notice. The messages are the records' own: under a knockd.conf the
 * daemon and the command gate word every line knockd also writes exactly as knockd does, so rules
 * written for knockd's log (rsyslog, fail2ban, logwatch) keep matching.
 */

/** syslog facility `daemon` (3) times 8: what Debian's knockd logs under. */
const DAEMON_FACILITY = 3 * 8;
const NOTICE = 5;
const ERR = 3;
/** pino's numeric levels. */
const WARN = 40;
const ERROR = 50;

export interface LogRecord {
  level: number;
  time: number;
  msg?: string;
  outcome?: unknown;
}

/**
 * Whether a record goes to knockd's formats: every warning and error, and the lines that report
 * something that happened (they carry an `outcome`: a stage, an open, a command run, a timeout).
 * Internal details (the capture filter, a command's output) stay in the JSON log.
 */
export function isKnockdLine(r: LogRecord): boolean {
  return r.level >= WARN || r.outcome !== undefined;
}

const two = (n: number): string => String(n).padStart(2, '0');

export function knockdFileLine(r: LogRecord): string {
  const t = new Date(r.time);
  return `[${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}] ${oneLine(r.msg)}\n`;
}

/** A line for `logger --prio-prefix`: knockd logs everything at daemon.notice; knockgate's errors go at daemon.err. */
export function knockdSyslogLine(r: LogRecord): string {
  return `<${DAEMON_FACILITY + (r.level >= ERROR ? ERR : NOTICE)}>${oneLine(r.msg)}\n`;
}

/** A message never spans lines: a newline in it would start a forged line in the file. */
function oneLine(msg: string | undefined): string {
  return (msg ?? '').replace(/[\r\n]+/g, ' ');
}

/** pino's destination interface over JSON lines: each knockd line of `chunk` goes to `out`. */
export class KnockdLines {
  constructor(
    private readonly out: (text: string) => void,
    private readonly render: (r: LogRecord) => string,
  ) {}

  write(chunk: string): boolean {
    let text = '';
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        continue;
      }
      if (isKnockdLine(record)) text += this.render(record);
    }
    if (text !== '') this.out(text);
    return true;
  }
}
