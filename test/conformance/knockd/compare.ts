import type { BatchResult, CommandRecord, PeerObservation, SyslogRecord } from './batch.js';

/**
 * What a knockd user observes, knockd beside knockgate, case by case: which commands ran with
 * which arguments and when (so which address got which port and for how long), the log lines a
 * parser reads (LogFile and syslog), the one-time files, and whether each daemon started and
 * stayed up. Pure: a batch's observations in, differences out.
 */

/** Aspects a difference can be in; deliberate-differences.toml names them. */
export const ASPECTS = [
  'startup',
  'alive',
  'commands',
  'log',
  'log.batch',
  'log.stamp',
  'log.blank-lines',
  'log.additions',
  'syslog',
  'syslog.additions',
  'one-time-file',
] as const;
export type Aspect = (typeof ASPECTS)[number];

export interface Difference {
  /** The case, or the batch (its group's name) for what the daemon as a whole did: start-up, staying up, its own lines. */
  caseId: string;
  aspect: Aspect;
  detail: string;
}

/**
 * Commands of both daemons that pair up must start within this of each other, ms. The behaviours
 * compared differ by seconds (a stop counted from the knock or from the end of a 2 s start, a
 * command that never runs); on this 2-core machine under other tests' floods, node lagged C by up
 * to ~900 ms.
 */
export const COMMAND_TIME_TOLERANCE_MS = 1_000;

/**
 * Every message knockd 0.8 logs (logprint in knockd.c). A line that matches one of these is
 * compared; knockgate's other lines are its additions.
 */
const KNOCKD_MESSAGES: Array<{ re: RegExp; door?: number }> = [
  { re: /^starting up, listening on \S+$/ },
  { re: /^shutting down$/ },
  { re: /^re-reading config file: .*$/ },
  { re: /^re-opening log file: .*$/ },
  { re: /^could not create pid file .*$/ },
  { re: /^error: command fork failed!$/ },
  { re: /^error: parsed (start|stop) command has been truncated! --> won't execute (it|start command)$/ },
  { re: /^(\S+): running command: .*$/, door: 1 },
  { re: /^(\S+): command returned non-zero status code \(\d+\)$/, door: 1 },
  { re: /^\S+: (\S+): (Stage \d+|OPEN SESAME|command timeout|sequence timeout \(stage -?\d+\))$/, door: 1 },
  { re: /^no more sequences left in the one time sequences file for door (\S+) --> disabling the door$/, door: 1 },
  { re: /^error while disabling used one time sequence for door (\S+) --> disabling the door$/, door: 1 },
  { re: /^error: section (\S+): (too many ports|unknown protocol) in knock sequence$/, door: 1 },
];

const LOG_STAMP = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}\] /;

interface Classified {
  /** knockd messages by door ('' for the batch's own lines). */
  byDoor: Map<string, string[]>;
  blank: number;
  /** Lines knockd never writes, by the door they name ('' when they name none). */
  other: Map<string, string[]>;
}

/** The door a line knockd never writes names, as `src: door: …` or `door: …`. */
const NAMED_DOOR = /^(?:\S+: )?(c\d+[a-z]|sentinel|flush): /;

function classify(messages: string[]): Classified {
  const byDoor = new Map<string, string[]>();
  const other = new Map<string, string[]>();
  let blank = 0;
  for (const msg of messages) {
    if (msg.trim() === '') {
      blank++;
      continue;
    }
    const known = KNOCKD_MESSAGES.find((m) => m.re.test(msg));
    if (!known) {
      const door = NAMED_DOOR.exec(msg)?.[1] ?? '';
      other.set(door, [...(other.get(door) ?? []), msg]);
      continue;
    }
    const door = known.door === undefined ? '' : known.re.exec(msg)![known.door]!;
    byDoor.set(door, [...(byDoor.get(door) ?? []), msg]);
  }
  return { byDoor, blank, other };
}

/** Lines in `a` but not in `b`, counting repeats. */
function missing(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

function multisetDiff(what: string, knockd: string[], knockgate: string[]): string | undefined {
  const onlyKnockd = missing(knockd, knockgate);
  const onlyKnockgate = missing(knockgate, knockd);
  if (onlyKnockd.length === 0 && onlyKnockgate.length === 0) return undefined;
  const show = (lines: string[]) => lines.slice(0, 6).map((l) => `"${l}"`).join(', ') + (lines.length > 6 ? `, … (${lines.length} in all)` : '');
  return [onlyKnockd.length > 0 && `${what} only knockd wrote: ${show(onlyKnockd)}`, onlyKnockgate.length > 0 && `${what} only knockgate wrote: ${show(onlyKnockgate)}`].filter(Boolean).join('; ');
}

function commandKey(c: CommandRecord): string {
  return `${c.door} ${c.args.join(' ')}`;
}

function compareCommands(doors: Set<string>, knockd: CommandRecord[], knockgate: CommandRecord[], t0: number): string | undefined {
  const group = (list: CommandRecord[]) => {
    const out = new Map<string, number[]>();
    for (const c of list) if (doors.has(c.door)) out.set(commandKey(c), [...(out.get(commandKey(c)) ?? []), c.time - t0].sort((a, b) => a - b));
    return out;
  };
  const a = group(knockd);
  const b = group(knockgate);
  const problems: string[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const ta = a.get(key) ?? [];
    const tb = b.get(key) ?? [];
    const times = (t: number[]) => (t.length === 0 ? 'never' : t.map((x) => `${x} ms`).join(', '));
    if (ta.length !== tb.length) {
      problems.push(`"${key}": knockd ran it at ${times(ta)}, knockgate at ${times(tb)}`);
      continue;
    }
    const late = ta.findIndex((t, i) => Math.abs(t - tb[i]!) > COMMAND_TIME_TOLERANCE_MS);
    if (late >= 0) problems.push(`"${key}": knockd ran it at ${times(ta)}, knockgate at ${times(tb)} (more than ${COMMAND_TIME_TOLERANCE_MS} ms apart)`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function stripStamp(line: string): string {
  return line.replace(LOG_STAMP, '');
}

function syslogText(r: SyslogRecord): string {
  return `<${r.pri}> ${r.ident}: ${r.msg}`;
}

/** Compares the two daemons' observations of one batch: the daemon as a whole under the batch's name, the rest case by case. */
export function compareBatch(batch: BatchResult): Difference[] {
  const { knockd, knockgate } = batch.peers;
  const out: Difference[] = [];
  const ofBatch = (aspect: Aspect, detail: string | undefined): void => {
    if (detail !== undefined) out.push({ caseId: batch.name, aspect, detail });
  };

  const state = (p: PeerObservation) => (!p.started ? `did not start (${p.exitedEarly?.code ?? p.exitedEarly?.signal}): ${p.output.slice(-3).join(' | ')}` : 'started');
  if (knockd.started !== knockgate.started) {
    ofBatch('startup', `knockd ${state(knockd)}; knockgate ${state(knockgate)}`);
    return out;
  }
  if (!knockd.started) return out;
  const ended = (p: PeerObservation) => (p.exitedEarly ? `exited during the batch (${p.exitedEarly.code ?? p.exitedEarly.signal})` : 'ran to the end');
  if ((knockd.exitedEarly === undefined) !== (knockgate.exitedEarly === undefined)) ofBatch('alive', `knockd ${ended(knockd)}; knockgate ${ended(knockgate)}`);

  const logs = { knockd: classify(knockd.logFile.map(stripStamp)), knockgate: classify(knockgate.logFile.map(stripStamp)) };
  const sys = {
    knockd: classify(knockd.syslog.map(syslogText).map((t) => t.replace(/^<\d+> [^:]+: /, ''))),
    knockgate: classify(knockgate.syslog.map(syslogText).map((t) => t.replace(/^<\d+> [^:]+: /, ''))),
  };
  // Syslog is compared with priority and ident: a rule for knockd's lines matches on both.
  const sysByDoor = (p: PeerObservation, door: string): string[] =>
    p.syslog.filter((r) => (classify([r.msg]).byDoor.get(door)?.length ?? 0) > 0).map(syslogText);

  const badStamps = knockgate.logFile.filter((l) => l.trim() !== '' && !LOG_STAMP.test(l));
  ofBatch('log.stamp', badStamps.length > 0 ? `knockgate LogFile lines without knockd's [YYYY-MM-DD HH:MM] stamp: ${badStamps.slice(0, 3).join(' | ')}` : undefined);
  ofBatch('log.batch', multisetDiff('LogFile', logs.knockd.byDoor.get('') ?? [], logs.knockgate.byDoor.get('') ?? []));
  if (logs.knockd.blank !== logs.knockgate.blank) ofBatch('log.blank-lines', `LogFile blank lines: knockd ${logs.knockd.blank}, knockgate ${logs.knockgate.blank}`);
  const additions = (what: string, lines: string[] | undefined) => (lines && lines.length > 0 ? `knockgate ${what} lines knockd never writes: ${lines.slice(0, 4).join(' | ')}` : undefined);
  ofBatch('log.additions', additions('LogFile', logs.knockgate.other.get('')));
  ofBatch('syslog', multisetDiff('syslog', sysByDoor(knockd, ''), sysByDoor(knockgate, '')));
  ofBatch('syslog.additions', additions('syslog', sys.knockgate.other.get('')));
  for (const unknown of [...logs.knockd.other.values(), ...sys.knockd.other.values()].flat()) ofBatch('log', `knockd wrote a line the harness does not know: "${unknown}"`);

  for (const { kase, doors, start } of batch.cases) {
    const add = (aspect: Aspect, detail: string | undefined): void => {
      if (detail !== undefined) out.push({ caseId: kase.id, aspect, detail });
    };
    const own = new Set(doors);
    add('commands', compareCommands(own, knockd.commands, knockgate.commands, start));
    const lines = (c: Classified) => doors.flatMap((d) => c.byDoor.get(d) ?? []);
    add('log', multisetDiff('LogFile', lines(logs.knockd), lines(logs.knockgate)));
    add('syslog', multisetDiff('syslog', doors.flatMap((d) => sysByDoor(knockd, d)), doors.flatMap((d) => sysByDoor(knockgate, d))));
    add('log.additions', additions('LogFile', doors.flatMap((d) => logs.knockgate.other.get(d) ?? [])));
    add('syslog.additions', additions('syslog', doors.flatMap((d) => sys.knockgate.other.get(d) ?? [])));
    for (const d of doors) {
      const a = knockd.oneTimeFiles[d];
      const b = knockgate.oneTimeFiles[d];
      if (a !== b) add('one-time-file', `${d}'s one_time_sequences file: knockd left ${JSON.stringify(a)}, knockgate ${JSON.stringify(b)}`);
    }
  }
  return out;
}

/** A case's result in a line or two, for the run's output: did it open, for whom, for how long. */
export function describeOpens(batch: BatchResult, caseIndex: number): string {
  const { doors, start } = batch.cases[caseIndex]!;
  const own = new Set(doors);
  const summary = (p: PeerObservation) =>
    p.commands
      .filter((c) => own.has(c.door))
      .map((c) => `${c.args.join(' ')}@${c.time - start}`)
      .join(', ') || 'nothing ran';
  return `knockd: ${summary(batch.peers.knockd)}; knockgate: ${summary(batch.peers.knockgate)}`;
}
