import * as v from 'valibot';
import type { PortSpec } from '../core/packet.js';
import { PLACEHOLDERS, unknownPlaceholders, type CommandTemplate } from '../core/command-template.js';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { boolean, leafOr, oneOf, optionalLeaf, stringMatching, table } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import { DEFAULTS, DEFAULT_IPTABLES_SETTINGS } from './defaults.js';
import type { GateAction, IptablesSettings } from './model.js';
import type { KeyPath } from './toml-locate.js';

/** The `[iptables]` section and a door's gate keys (`gate`, `start`, `stop`, `shell`, `command_timeout`). */

/** A command that runs longer than this is stuck, not slow; one under 100 ms cannot even fork reliably under load. */
export const MIN_COMMAND_TIME_LIMIT_MS = 100;
export const MAX_COMMAND_TIME_LIMIT_MS = 600_000;
/** Arguments of one command; a firewall helper needs a handful. */
export const MAX_COMMAND_ARGS = 64;
/** Bytes of one argument or shell string before expansion (knockd's PATH_MAX). */
export const MAX_COMMAND_BYTES = 4096;

const CHAIN = /^[A-Za-z][A-Za-z0-9_-]{0,20}$/;
const PROGRAM = /^[A-Za-z0-9_./-]{1,255}$/;

export const iptablesSchema = table({
  chain: leafOr(stringMatching(CHAIN, 'a chain name: a letter, then up to 20 letters, digits, _ or -'), DEFAULT_IPTABLES_SETTINGS.chain),
  iptables: leafOr(stringMatching(PROGRAM, 'a program name or path'), DEFAULT_IPTABLES_SETTINGS.iptables),
  ip6tables: leafOr(stringMatching(PROGRAM, 'a program name or path'), DEFAULT_IPTABLES_SETTINGS.ip6tables),
  on_stop: leafOr(oneOf(['close', 'keep', 'remove'] as const), DEFAULT_IPTABLES_SETTINGS.onStop),
});

export function resolveIptables(s: v.InferOutput<typeof iptablesSchema>): IptablesSettings {
  return { chain: s.chain, iptables: s.iptables, ip6tables: s.ip6tables, onStop: s.on_stop };
}

/** A string (run by /bin/sh when `shell = true`) or a list of strings (argv, no shell). */
function commandValue(v: unknown): Parsed<string | [string, ...string[]]> {
  const check = (s: string, what: string): string | undefined => {
    if (Buffer.byteLength(s) > MAX_COMMAND_BYTES) return `${what} is longer than ${MAX_COMMAND_BYTES} bytes`;
    if (s.includes('\0')) return `${what} contains a NUL byte`;
    const unknown = unknownPlaceholders(s);
    if (unknown.length > 0) return `${what}: unknown placeholder {${unknown[0]}}; known: ${Object.keys(PLACEHOLDERS).map((p) => `{${p}}`).join(' ')}`;
    return undefined;
  };
  if (typeof v === 'string') {
    const problem = v.trim() === '' ? 'the command is empty' : check(v, 'the command');
    return problem ? rejected(problem) : parsed(v);
  }
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_COMMAND_ARGS) {
    return rejected(`expected a list of 1..${MAX_COMMAND_ARGS} strings like ["/usr/local/sbin/open", "{src}"], or a string with shell = true; got ${describeValue(v)}`);
  }
  for (const [i, item] of v.entries()) {
    if (typeof item !== 'string') return rejected(`argument ${i + 1}: expected a string, got ${describeValue(item)}`);
    const problem = (i === 0 && item === '' ? 'the program is empty' : undefined) ?? check(item, `argument ${i + 1}`);
    if (problem) return rejected(problem);
  }
  return parsed(v as [string, ...string[]]);
}

/** Keys a `[door.NAME]` table gains for its gate (`gate` itself is listed with the door's keys). */
export const doorGateKeys = {
  start: optionalLeaf(commandValue),
  stop: optionalLeaf(commandValue),
  shell: leafOr(boolean, false),
  command_timeout: leafOr((v) => parseDurationWithin(v, MIN_COMMAND_TIME_LIMIT_MS, MAX_COMMAND_TIME_LIMIT_MS), DEFAULTS.commandTimeLimitMs),
};

type DoorGateValues = {
  gate: GateAction['gate'];
  start?: string | [string, ...string[]] | undefined;
  stop?: string | [string, ...string[]] | undefined;
  shell: boolean;
  command_timeout: number;
};

function template(v: string | [string, ...string[]]): CommandTemplate {
  return typeof v === 'string' ? { shell: v } : { argv: v };
}

export function resolveDoorAction(d: DoorGateValues & { open: PortSpec[]; open_for: number }): GateAction {
  const action: GateAction = { kind: 'gate', gate: d.gate, open: d.open, openForMs: d.open_for };
  if (d.gate === 'command') {
    action.commands = {
      timeLimitMs: d.command_timeout,
      ...(d.start !== undefined && { start: template(d.start) }),
      ...(d.stop !== undefined && { stop: template(d.stop) }),
    };
  }
  return action;
}

/** Rules between a door's gate keys, checked once each key is valid on its own; `section` is `door` or `spa_door`. */
export function crossCheckDoorGate(name: string, d: DoorGateValues, section = 'door'): { path: KeyPath; message: string }[] {
  const out: { path: KeyPath; message: string }[] = [];
  const at = (key: string): KeyPath => [section, name, key];
  if (d.gate !== 'command') {
    for (const key of ['start', 'stop'] as const) {
      if (d[key] !== undefined) out.push({ path: at(key), message: `only a door with gate = "command" runs commands; this door's gate is "${d.gate}"` });
    }
    return out;
  }
  if (d.start === undefined && d.stop === undefined) out.push({ path: at('gate'), message: 'a command door needs start = [...] and/or stop = [...]' });
  for (const key of ['start', 'stop'] as const) {
    const v = d[key];
    if (typeof v === 'string' && !d.shell) out.push({ path: at(key), message: 'a string command runs through /bin/sh only with shell = true; otherwise give an argv list ["program", "arg", ...]' });
    if (Array.isArray(v) && d.shell) out.push({ path: at(key), message: 'shell = true takes a string command; an argv list runs without a shell' });
  }
  return out;
}
