import { dirname, resolve as resolvePath } from 'node:path';
import type { KnockDoor, TcpFlagRule } from '../core/door.js';
import { ConfigError, parsed, rejected, type ConfigProblem, type Parsed } from './config-error.js';
import { didYouMean } from './did-you-mean.js';
import { absolutePath, ipAddress, stringMatching } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import { parseKnockSequence, parseTcpFlags } from './knock-syntax.js';
import { MAX_CONFIG_BYTES, MAX_DOORS, MAX_OPEN_FOR_MS, MAX_SEQ_TIMEOUT_MS, MIN_SEQ_TIMEOUT_MS } from './knockgate-toml.js';
import { DEFAULTS } from './defaults.js';
import type { DoorConfig, KnockdCommandAction, KnockgateConfig } from './model.js';

/** knockd reads lines with fgets(PATH_MAX) and silently splits longer ones; refusing them is the honest equivalent. */
export const MAX_KNOCKD_LINE_CHARS = 4095;
/** knockd keeps a door name in char[128] and truncates past that. */
export const MAX_KNOCKD_DOOR_NAME_CHARS = 127;
/** Longest cmd_timeout accepted: a stop command a day later is already a forgotten one. */
export const MAX_CMD_TIMEOUT_MS = MAX_OPEN_FOR_MS;

// Linux IFNAMSIZ is 16 including the terminating NUL.
const IFNAME = /^[^\s/:]{1,15}$/;
const SECONDS = /^\d{1,9}$/;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Table headers of a knockgate TOML config, which no knockd.conf door would be called. */
const KNOCKGATE_TOML_SECTION = /^(daemon|nftables|door\..+)$/;

/** The global section's name; knockd compares it case-sensitively, so `[Options]` is a door. */
const GLOBAL_SECTION = 'options';

/** Keys of `[options]` as knockd upper-cases them, and the name a message shows. */
const GLOBAL_KEYS = { LOGFILE: 'LogFile', PIDFILE: 'PidFile', INTERFACE: 'Interface', USESYSLOG: 'UseSyslog' } as const;
type GlobalKey = keyof typeof GLOBAL_KEYS;

/** Per-door keys; the undocumented aliases knockd also takes map to their canonical key. */
const DOOR_KEYS = {
  SEQUENCE: 'Sequence',
  ONE_TIME_SEQUENCES: 'One_Time_Sequences',
  SEQ_TIMEOUT: 'Seq_Timeout',
  TCPFLAGS: 'TCPFlags',
  TARGET: 'Target',
  START_COMMAND: 'Start_Command',
  START_COMMAND_6: 'Start_Command_6',
  CMD_TIMEOUT: 'Cmd_Timeout',
  STOP_COMMAND: 'Stop_Command',
  STOP_COMMAND_6: 'Stop_Command_6',
} as const;
type DoorKey = keyof typeof DOOR_KEYS;
const DOOR_KEY_ALIASES: Record<string, DoorKey> = { TIMEOUT: 'SEQ_TIMEOUT', COMMAND: 'START_COMMAND', COMMAND_6: 'START_COMMAND_6' };

interface Setting {
  value: string;
  line: number;
  /** The key as the file spells it, for messages. */
  key: string;
}

interface DoorSection {
  name: string;
  line: number;
  settings: Map<DoorKey, Setting>;
}

/**
 * Reads knockd.conf text as knockd 0.8 does (FIELD.md §1.3) into the model every part of the
 * daemon consumes: each door runs its own start/stop commands with `%IP%`. Stricter than knockd
 * where knockd would silently run something else than written (port 0, a repeated key, a target
 * that is not an address); every problem in the file is reported at once, each with its line.
 */
export function parseKnockdConf(text: string, file: string): KnockgateConfig {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [{ message: `a config file is at most ${MAX_CONFIG_BYTES} bytes` }]);
  }
  const problems: ConfigProblem[] = [];
  const global = new Map<GlobalKey, Setting>();
  const doors: DoorSection[] = [];
  let section: 'global' | DoorSection | undefined;

  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = i + 1;
    if (raw.length > MAX_KNOCKD_LINE_CHARS) {
      problems.push({ line, message: `line is ${raw.length} characters long; knockd reads at most ${MAX_KNOCKD_LINE_CHARS}` });
      continue;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;

    if (trimmed.startsWith('[')) {
      if (!trimmed.endsWith(']')) {
        problems.push({ line, message: `"${trimmed}" is not a section header: it must end with "]" (knockd allows nothing after it, not even a comment)` });
        section = undefined;
        continue;
      }
      // knockd compares the name untrimmed, so `[ options ]` is a door; a door's name loses the spaces.
      if (trimmed.slice(1, -1) === GLOBAL_SECTION) {
        section = 'global';
        continue;
      }
      const name = trimmed.slice(1, -1).trim();
      const bad = badDoorName(name);
      if (bad) problems.push({ line, message: bad });
      const twin = doors.find((d) => d.name === name);
      if (twin) problems.push({ line, field: name, message: `door [${name}] is already defined on line ${twin.line}; each door needs its own name` });
      section = { name, line, settings: new Map() };
      doors.push(section);
      continue;
    }

    const eq = trimmed.indexOf('=');
    const key = (eq === -1 ? trimmed : trimmed.slice(0, eq)).trim();
    const value = eq === -1 ? undefined : trimmed.slice(eq + 1).trim();
    const upper = key.toUpperCase();
    if (section === undefined) {
      problems.push({ line, field: key, message: 'stands outside any section; put it under [options] or under a door such as [openSSH]' });
      continue;
    }
    if (key === '') {
      problems.push({ line, message: `"${trimmed}" has no option name before "="` });
      continue;
    }
    // knockd takes UseSyslog without "=" in a door section too, and sets the global flag.
    if (value === undefined) {
      if (upper === 'USESYSLOG') global.set('USESYSLOG', { value: '', line, key });
      else problems.push({ line, field: key, message: `has no "="; write "${key} = VALUE" (only UseSyslog stands alone)` });
      continue;
    }
    if (section === 'global') {
      readGlobalSetting(global, { key, value, line }, upper, problems);
      continue;
    }
    readDoorSetting(section, { key, value, line }, upper, problems);
  }

  const config = resolve(file, global, doors, problems);
  if (problems.length === 0) return config;
  // A knockgate TOML file given as knockd.conf fails on nearly every line; one pointer helps more.
  const toml = doors.find((d) => KNOCKGATE_TOML_SECTION.test(d.name));
  if (toml) throw new ConfigError(file, [{ line: toml.line, message: `[${toml.name}] looks like knockgate TOML, not knockd.conf; check it with --config instead` }]);
  throw new ConfigError(file, [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)));
}

function badDoorName(name: string): string | undefined {
  if (name === '') return 'a section needs a name, e.g. [openSSH]';
  if (name.length > MAX_KNOCKD_DOOR_NAME_CHARS) return `a door name is at most ${MAX_KNOCKD_DOOR_NAME_CHARS} characters, as in knockd`;
  if (CONTROL_CHARS.test(name)) return 'a door name cannot contain control characters';
  return undefined;
}

function readGlobalSetting(global: Map<GlobalKey, Setting>, s: Setting, upper: string, problems: ConfigProblem[]): void {
  const field = `${GLOBAL_SECTION}.${s.key}`;
  if (upper === 'USESYSLOG') {
    problems.push({ line: s.line, field, message: 'takes no value: write UseSyslog alone on its line' });
    return;
  }
  if (!isGlobalKey(upper)) {
    const hint = isDoorKey(upper) ? ` (${s.key} belongs in a door section, not in [${GLOBAL_SECTION}])` : didYouMean(s.key, Object.values(GLOBAL_KEYS));
    problems.push({ line: s.line, field, message: `unknown option${hint}; [${GLOBAL_SECTION}] accepts ${Object.values(GLOBAL_KEYS).join(', ')}` });
    return;
  }
  const earlier = global.get(upper);
  if (earlier) {
    problems.push({ line: s.line, field, message: `is already set on line ${earlier.line}; set it once` });
    return;
  }
  global.set(upper, s);
}

function readDoorSetting(door: DoorSection, s: Setting, upper: string, problems: ConfigProblem[]): void {
  const field = `${door.name}.${s.key}`;
  const key = isDoorKey(upper) ? upper : DOOR_KEY_ALIASES[upper];
  if (key === undefined) {
    const hint = isGlobalKey(upper)
      ? door.name.toLowerCase() === GLOBAL_SECTION
        ? ` (the global section is written exactly [${GLOBAL_SECTION}]; knockd reads any other spelling as a door)`
        : ` (${s.key} belongs in [${GLOBAL_SECTION}])`
      : didYouMean(s.key, [...Object.values(DOOR_KEYS), 'Timeout', 'Command', 'Command_6']);
    problems.push({ line: s.line, field, message: `unknown option${hint}; a door accepts ${Object.values(DOOR_KEYS).join(', ')} (and the aliases Timeout, Command, Command_6)` });
    return;
  }
  const earlier = door.settings.get(key);
  if (earlier) {
    // knockd would quietly take the last value (and add tcpflags up); a repeat is far more often a slip.
    problems.push({ line: s.line, field, message: `is already set on line ${earlier.line} (as ${earlier.key}); set it once` });
    return;
  }
  door.settings.set(key, s);
}

function isGlobalKey(k: string): k is GlobalKey {
  return Object.hasOwn(GLOBAL_KEYS, k);
}

function isDoorKey(k: string): k is DoorKey {
  return Object.hasOwn(DOOR_KEYS, k);
}

/** Turns the collected settings into the model, adding a problem for every value that does not parse. */
function resolve(file: string, global: Map<GlobalKey, Setting>, sections: DoorSection[], problems: ConfigProblem[]): KnockgateConfig {
  const value = <T>(s: Setting | undefined, field: string, parse: (text: string) => Parsed<T>): T | undefined => {
    if (s === undefined) return undefined;
    const r = parse(s.value);
    if (r.ok) return r.value;
    problems.push({ line: s.line, field, message: r.error });
    return undefined;
  };
  const globalField = (k: GlobalKey) => `${GLOBAL_SECTION}.${global.get(k)?.key ?? GLOBAL_KEYS[k]}`;
  const iface = value(global.get('INTERFACE'), globalField('INTERFACE'), stringMatching(IFNAME, 'an interface name such as eth0'));
  const logFile = value(global.get('LOGFILE'), globalField('LOGFILE'), absolutePath);
  const pidFile = value(global.get('PIDFILE'), globalField('PIDFILE'), absolutePath);

  if (sections.length === 0) problems.push({ message: 'no door is configured; add a section such as [openSSH] with a sequence and a start_command' });
  if (sections.length > MAX_DOORS) problems.push({ message: `at most ${MAX_DOORS} doors, got ${sections.length}` });

  const doors: DoorConfig[] = [];
  for (const d of sections) {
    const setting = (k: DoorKey) => d.settings.get(k);
    const field = (k: DoorKey) => `${d.name}.${setting(k)?.key ?? DOOR_KEYS[k].toLowerCase()}`;
    const oneTime = setting('ONE_TIME_SEQUENCES');
    const sequence = oneTime ? [] : value(setting('SEQUENCE'), field('SEQUENCE'), parseKnockSequence);
    if (oneTime && setting('SEQUENCE')) {
      problems.push({ line: setting('SEQUENCE')!.line, field: field('SEQUENCE'), message: `is given with one_time_sequences (line ${oneTime.line}), which supplies the sequences; keep one of them` });
    } else if (!oneTime && !setting('SEQUENCE')) {
      problems.push({ line: d.line, field: field('SEQUENCE'), message: 'is missing: every door needs a knock sequence, e.g. "sequence = 7000,8000:udp,9000"' });
    }
    const seqTimeoutMs = value(setting('SEQ_TIMEOUT'), field('SEQ_TIMEOUT'), (t) => seconds(t, MIN_SEQ_TIMEOUT_MS, MAX_SEQ_TIMEOUT_MS));
    const cmdTimeoutMs = value(setting('CMD_TIMEOUT'), field('CMD_TIMEOUT'), (t) => seconds(t, 0, MAX_CMD_TIMEOUT_MS));
    const tcpFlags = value(setting('TCPFLAGS'), field('TCPFLAGS'), knockdTcpFlags);
    const target = value(setting('TARGET'), field('TARGET'), ipAddress);
    const command = (k: DoorKey) => value(setting(k), field(k), commandText);
    const start4 = command('START_COMMAND');
    const stop4 = command('STOP_COMMAND');
    const start6 = command('START_COMMAND_6');
    const stop6 = command('STOP_COMMAND_6');
    if (sequence === undefined) continue;
    const knock: KnockDoor = {
      name: d.name,
      sequence,
      seqTimeoutMs: seqTimeoutMs ?? DEFAULTS.seqTimeoutMs,
      tcpFlags: tcpFlags ?? { set: 0, clear: 0 },
      targets: target === undefined ? [] : [target],
      mode: 'knockd',
      tolerateRepeat: false,
    };
    // knockd 0.8 runs the IPv4 command for an IPv6 knock when no _6 command is given, and nothing
    // when the _6 command is given empty (verified: `start_command_6 =` runs nothing for ::1).
    const action: KnockdCommandAction = {
      kind: 'knockd-command',
      ...(start4 !== undefined && { start4 }),
      ...((start6 ?? start4) !== undefined && { start6: start6 ?? start4 }),
      ...(stop4 !== undefined && { stop4 }),
      ...((stop6 ?? stop4) !== undefined && { stop6: stop6 ?? stop4 }),
      cmdTimeoutMs: cmdTimeoutMs ?? DEFAULTS.cmdTimeoutMs,
    };
    // knockd opens the file relative to its working directory; a daemon's is /, so relative paths are read from the config's directory.
    doors.push({ knock, action, ...(oneTime && { sequenceSource: { kind: 'one-time', file: resolvePath(dirname(file), oneTime.value), unused: [] } }) });
  }

  return {
    source: { file, kind: 'knockd' },
    daemon: {
      interfaces: iface === undefined ? [] : [iface],
      logFormat: 'auto',
      logLevel: 'info',
      useSyslog: global.has('USESYSLOG'),
      stateDir: DEFAULTS.stateDir,
      controlSocket: DEFAULTS.controlSocket,
      maxTrackedSources: DEFAULTS.maxTrackedSources,
      ...(logFile !== undefined && { logFile }),
      ...(pidFile !== undefined && { pidFile }),
    },
    doors,
    nftables: { table: DEFAULTS.nftTable, mark: DEFAULTS.nftMark, onStop: 'close' },
  };
}

/** knockd's seconds (it uses atoi, so "10s" or "abc" would slip through as 10 or 0; here only digits). */
function seconds(text: string, minMs: number, maxMs: number): Parsed<number> {
  if (!SECONDS.test(text)) return rejected(`"${text}" is not a whole number of seconds (knockd reads seconds, e.g. 10)`);
  return parseDurationWithin(Number(text), minMs, maxMs);
}

/** knockd rejects an empty TCPFlags ("unrecognized flag"), where the shared parser reads "" as "any flags". */
function knockdTcpFlags(text: string): Parsed<TcpFlagRule> {
  if (text === '') return rejected('is empty; list flags such as syn,!ack, or leave the line out to accept any flags');
  return parseTcpFlags(text);
}

/** A shell command line; knockd hands it to /bin/sh after replacing %IP%, so only NUL cannot be passed on. */
function commandText(text: string): Parsed<string> {
  return text.includes('\0') ? rejected('a command cannot contain a NUL byte') : parsed(text);
}
