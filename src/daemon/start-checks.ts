import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { describeOverlap, doorOverlaps } from '../config/door-overlap.js';
import type { KnockgateConfig } from '../config/model.js';
import type { CommandTemplate } from '../core/command-template.js';
import { defaultCaptureInterfaces, interfaceExists, isInterfaceUp, readInterfaceState } from '../sensors/interfaces.js';

/**
 * What would make `serve` fail on this host with this config, found before anything is opened:
 * `check` lists every one, and `serve` refuses to start on the first (so a start either brings
 * every door live or changes nothing). Each names the setting and how to fix it.
 *
 * These read the host as the daemon will see it: run under the unit (ExecStartPre), a log file
 * under ProtectSystem=strict's read-only /var/log is found unwritable here too.
 */

export interface StartProblem {
  /** Dotted setting it comes from, e.g. `daemon.log_file`. */
  field: string;
  message: string;
  /**
   * `config`: the file or the host setup must change (serve exits 78); `runtime`: it may pass on a
   * later try (serve exits 1); `door`: one door cannot work (its command is missing), the others
   * can (serve starts and warns; that door fails closed).
   */
  kind: 'config' | 'runtime' | 'door';
}

export function startProblems(config: KnockgateConfig, env: NodeJS.ProcessEnv = process.env): StartProblem[] {
  return [...doorProblems(config), ...interfaceProblems(config), ...pathProblems(config), ...programProblems(config, env)];
}

function doorProblems(config: KnockgateConfig): StartProblem[] {
  return doorOverlaps(config.doors).map((o) => ({ field: `door.${o.longer}.sequence`, message: describeOverlap(o), kind: 'config' }));
}

function interfaceProblems(config: KnockgateConfig): StartProblem[] {
  const configured = config.daemon.interfaces;
  const spa = config.spa?.sensor.kind === 'pcap' ? config.spa.sensor.interfaces : [];
  if (configured.length === 0 && defaultCaptureInterfaces().length === 0) {
    return [{ field: 'daemon.interfaces', message: 'no interface to capture on: none is up besides loopback; bring one up or name one', kind: 'runtime' }];
  }
  const problems: StartProblem[] = [];
  for (const [field, names] of [['daemon.interfaces', configured], ['spa.interfaces', spa]] as const) {
    for (const name of names) {
      if (!interfaceExists(name)) {
        problems.push({ field, message: `capture interface ${name} does not exist on this host (see \`ip -br link\`); name one that does`, kind: 'config' });
        continue;
      }
      const state = readInterfaceState(name);
      if (state && !isInterfaceUp(state)) problems.push({ field, message: `capture interface ${name} is down (operstate ${state.operstate}); bring it up with \`ip link set ${name} up\``, kind: 'runtime' });
    }
  }
  return problems;
}

function pathProblems(config: KnockgateConfig): StartProblem[] {
  const { daemon, source } = config;
  const knockd = source.kind === 'knockd';
  const problems: StartProblem[] = [];
  const file = (field: string, path: string | undefined, what: string) => {
    const why = path === undefined ? undefined : unwritableFile(path);
    if (why) problems.push({ field, message: `${what} ${path} ${why}${UNIT_HINT}`, kind: 'config' });
  };
  file(knockd ? 'LogFile' : 'daemon.log_file', daemon.logFile, 'log file');
  file(knockd ? 'PidFile' : 'daemon.pid_file', daemon.pidFile, 'pid file');
  const dir = (field: string, path: string, what: string) => {
    const why = unwritableDirectory(path);
    if (why) problems.push({ field, message: `${what} ${path} ${why}${UNIT_HINT}`, kind: 'config' });
  };
  dir(knockd ? '--state-dir' : 'daemon.state_dir', daemon.stateDir, 'state directory');
  dir(knockd ? '--control-socket' : 'daemon.control_socket', dirname(daemon.controlSocket), 'control socket directory');
  return problems;
}

/** Under the shipped unit only the directories systemd makes for it are writable. */
const UNIT_HINT = '; under deploy/knockgate.service (ProtectSystem=strict) only /var/log/knockgate, /var/lib/knockgate and /run/knockgate are writable';

/** Why the daemon could not append to `path`, or undefined if it can. */
function unwritableFile(path: string): string | undefined {
  const st = statOrUndefined(path);
  if (st?.isDirectory()) return 'is a directory';
  if (st) return accessError(path, constants.W_OK);
  const parent = dirname(path);
  if (!statOrUndefined(parent)?.isDirectory()) return `cannot be created: directory ${parent} does not exist`;
  const why = accessError(parent, constants.W_OK | constants.X_OK);
  return why && `cannot be created in ${parent}: ${why.replace(/^is /, '')}`;
}

/** Why the daemon could not create files in `path` (making it if missing), or undefined if it can. */
function unwritableDirectory(path: string): string | undefined {
  let at = path;
  // The nearest part of the path that exists must let the daemon in and write.
  while (!statOrUndefined(at) && dirname(at) !== at) at = dirname(at);
  const st = statOrUndefined(at);
  if (!st?.isDirectory()) return `cannot be created: ${at} is not a directory`;
  const why = accessError(at, constants.W_OK | constants.X_OK);
  return why && (at === path ? why : `cannot be created in ${at}: ${why.replace(/^is /, '')}`);
}

function accessError(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EROFS' ? 'is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'is not writable by this user' : `is not usable (${code ?? String(e)})`;
  }
}

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Programs the config will run: nft and iptables for their gates, door commands, the alert command. */
function programProblems(config: KnockgateConfig, env: NodeJS.ProcessEnv): StartProblem[] {
  const wanted: Array<{ field: string; program: string; why: string; kind: StartProblem['kind'] }> = [];
  const gateDoors = config.doors.flatMap((d) => (d.action.kind === 'gate' ? [{ name: d.knock.name, action: d.action }] : []));
  const uses = (gate: string) => gateDoors.some((d) => d.action.gate === gate) || (config.spa?.doors ?? []).some((d) => d.gate === gate);
  const enforced = (config.guard?.expectations ?? []).some((e) => e.enforce);
  if (uses('nftables') || enforced) wanted.push({ field: uses('nftables') ? 'nftables' : 'guard.expect', program: 'nft', why: 'the nftables gate and guard enforcement run it', kind: 'config' });
  if (uses('iptables')) {
    const s = config.iptables ?? { iptables: 'iptables', ip6tables: 'ip6tables' };
    for (const p of [s.iptables, s.ip6tables]) for (const suffix of ['', '-restore', '-save']) wanted.push({ field: 'iptables', program: `${p}${suffix}`, why: 'the iptables gate runs it', kind: 'config' });
  }
  const template = (field: string, t: CommandTemplate | undefined) => {
    const program = t === undefined ? undefined : 'argv' in t ? t.argv[0] : shellProgram(t.shell);
    if (program !== undefined) wanted.push({ field, program, why: 'the door runs it; until then it fails closed', kind: 'door' });
  };
  for (const d of config.doors) {
    const a = d.action;
    if (a.kind === 'gate') {
      template(`door.${d.knock.name}.start`, a.commands?.start);
      template(`door.${d.knock.name}.stop`, a.commands?.stop);
    } else {
      for (const [key, cmd] of [['Start_Command', a.start4], ['Start_Command_6', a.start6], ['Stop_Command', a.stop4], ['Stop_Command_6', a.stop6]] as const) {
        template(`${d.knock.name}.${key}`, cmd === undefined || cmd === '' ? undefined : { shell: cmd });
      }
    }
  }
  for (const d of config.spa?.doors ?? []) {
    template(`spa_door.${d.rules.door}.start`, d.commands?.start);
    template(`spa_door.${d.rules.door}.stop`, d.commands?.stop);
  }
  const alert = config.guard?.alert;
  if (alert) wanted.push({ field: 'guard.alert_command', program: alert.argv[0], why: 'the guard runs it on every finding', kind: 'door' });
  const seen = new Set<string>();
  const problems: StartProblem[] = [];
  for (const w of wanted) {
    if (seen.has(w.program)) continue;
    seen.add(w.program);
    const why = missingProgram(w.program, env.PATH ?? '');
    if (why) problems.push({ field: w.field, message: `${w.program} ${why} (${w.why}); install it or fix the path`, kind: w.kind });
  }
  return problems;
}

/**
 * The program a shell command starts with, when that can be told without running a shell: the
 * first word, unless the command begins with shell syntax (a variable, a subshell, quotes…).
 */
export function shellProgram(command: string): string | undefined {
  const first = /^\s*([^\s;&|<>()$`'"\\{}]+)(?=\s|$)/.exec(command)?.[1];
  if (first === undefined || first.includes('=') || SHELL_WORDS.has(first)) return undefined;
  return first;
}

/** Keywords and builtins the shell runs itself: not programs to look for. */
const SHELL_WORDS = new Set(['if', 'then', 'for', 'while', 'until', 'case', 'exec', 'command', 'cd', 'echo', 'printf', 'test', '[', 'true', 'false', ':', '.', 'eval', 'set', 'export', 'exit', 'kill', 'read', 'sleep', 'wait', 'trap']);

/** Why `program` cannot be run (not found on PATH, not executable), or undefined if it can. */
function missingProgram(program: string, path: string): string | undefined {
  const executable = (p: string) => statOrUndefined(p)?.isFile() === true && accessError(p, constants.X_OK) === undefined;
  if (program.includes('/')) {
    if (!isAbsolute(program)) return undefined;
    if (!statOrUndefined(program)) return 'does not exist';
    return executable(program) ? undefined : 'is not an executable file';
  }
  return path.split(delimiter).some((dir) => dir !== '' && executable(join(dir, program))) ? undefined : `is not found on PATH (${path || 'empty'})`;
}
