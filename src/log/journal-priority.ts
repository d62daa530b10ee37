import { fstatSync } from 'node:fs';

/**
 * journald priorities for lines on stdout and stderr. systemd connects a service's stdout and
 * stderr to the journal and says so in JOURNAL_STREAM (`DEVICE:INODE` of that stream,
 * systemd.exec(5)); journald then reads an sd-daemon(3) prefix `<N>` at the start of each line as
 * its priority (SyslogLevelPrefix=, on by default) and strips it. Without the prefix every line
 * is recorded at info, so `journalctl -p warning` would miss the daemon's warnings and errors.
 */

/** sd-daemon priorities (syslog's numbers) by pino level: fatal 2 (crit), error 3, warn 4, info 6, debug and trace 7. */
export function journalPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

export type StdStream = 1 | 2;
const connected = new Map<StdStream, boolean>();

/**
 * Whether fd 1 or 2 is the journal stream JOURNAL_STREAM names: the same device and inode, as
 * systemd documents (a variable inherited by a child whose output goes elsewhere does not match).
 * Asked once per stream: the answer cannot change while the process runs.
 */
export function isJournalStream(fd: StdStream): boolean {
  let answer = connected.get(fd);
  if (answer === undefined) {
    answer = matches(process.env.JOURNAL_STREAM, fd);
    connected.set(fd, answer);
  }
  return answer;
}

function matches(value: string | undefined, fd: StdStream): boolean {
  const m = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** `text`'s lines each prefixed with `<N>` when `fd` is the journal stream; unchanged otherwise. */
export function forJournal(fd: StdStream, priority: number, text: string): string {
  if (!isJournalStream(fd)) return text;
  return text.replace(/^(?=.)/gm, `<${priority}>`);
}

/** A line for stderr (an error by default), with its priority when stderr is the journal. */
export function writeStderr(text: string, priority = journalPriority(50)): void {
  process.stderr.write(forJournal(2, priority, text));
}
