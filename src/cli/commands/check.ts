import type { Command } from 'commander';
import type { KnockStep, TcpFlagRule } from '../../core/door.js';
import { TcpFlag, type PortSpec, type TcpFlagName } from '../../core/packet.js';
import { ConfigError } from '../../config/config-error.js';
import { formatDuration } from '../../config/duration.js';
import { DEFAULT_CONFIG_NAME, loadConfig } from '../../config/load.js';
import { startProblems } from '../../daemon/start-checks.js';
import { describeKernelDoor } from './describe-kernel-door.js';
import { describeScope } from './describe-scope.js';
import { describeSpa } from './describe-spa.js';
import { formatSpaWarning } from '../../config/spa-config.js';
import type { DoorConfig, KnockdCommandAction, KnockgateConfig } from '../../config/model.js';
import type { CommandTemplate } from '../../core/command-template.js';
import { KNOCKD_DEFAULT_INTERFACE } from '../../sensors/interfaces.js';
import { sshKeyDoorsById } from '../../store/ssh-key-ring.js';
import { stateProblems } from '../../store/state-dir.js';

/** Exit status of `check` on a config that cannot be used. */
export const EXIT_INVALID_CONFIG = 1;

interface CheckOptions {
  config?: string;
  knockdConf?: string;
  fwknopAccess?: string;
  fwknopdConf?: string;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('validate a config without running it, and show what every door does')
    .option('-c, --config <path>', 'knockgate config file (TOML); without it and --knockd-conf, the built-in default')
    .option('--knockd-conf <path>', 'an existing knockd.conf, read as knockd 0.8 reads it')
    .option('--fwknop-access <path>', 'an existing fwknop access.conf: its stanzas become SPA doors')
    .option('--fwknopd-conf <path>', "fwknopd.conf settings for those doors (capture interface and port, UDP server, packet age, digest file)")
    .addHelpText(
      'after',
      `
Prints each door (knock sequence, time allowed, TCP flags, what it opens or which commands it runs,
and for how long) and exits 0; on a bad file prints every problem as FILE:LINE: FIELD: what is
wrong, and exits ${EXIT_INVALID_CONFIG}. It also checks this host as \`serve\` will find it: capture
interfaces that exist and are up, log, pid and state paths the daemon can write (run it as the
daemon runs, e.g. in the unit's ExecStartPre, so ProtectSystem=strict applies), the programs the
config runs, doors whose sequences collide, and SSH-key doors' key files (authorized_keys options
a door cannot keep, such as command=, are named with their file and line).

Examples:
  knockgate check --config /etc/knockgate/knockgate.toml
  knockgate check --knockd-conf /etc/knockd.conf
  knockgate check --fwknop-access /etc/fwknop/access.conf
`,
    )
    .action(async (opts: CheckOptions, command: Command) => {
      // A bad file is not a usage mistake: its problems are the whole message, with no hint about --help.
      const invalid = (message: string): never => command.showHelpAfterError(false).error(message, { exitCode: EXIT_INVALID_CONFIG, code: 'knockgate.invalidConfig' });
      let config: KnockgateConfig;
      try {
        config = await loadConfig(opts);
      } catch (err) {
        if (err instanceof ConfigError) invalid(err.message);
        throw err;
      }
      // A file that reads is described; what this host lacks for it follows, and fails the check:
      // serve would refuse the same (and a state directory others could plant state in).
      command.configureOutput().writeOut?.(describeConfig(config));
      // A warning is reported with its file:line and fix but does not fail the check: the config runs.
      for (const w of config.spa?.warnings ?? []) command.configureOutput().writeErr?.(`warning: ${formatSpaWarning(w)}\n`);
      const problems = [...startProblems(config).map((p) => `${config.source.file}: ${p.field}: ${p.message}`), ...sshKeyProblems(config), ...(await stateProblems(config)).map((p) => `knockgate: ${p}`)];
      if (problems.length > 0) invalid(problems.join('\n'));
    });
}

/** SSH-key doors' keys read as serve reads them: a bad line or an authorized_keys option a door cannot keep fails the check as it would the start. */
function sshKeyProblems(config: KnockgateConfig): string[] {
  try {
    sshKeyDoorsById(config.spa?.doors ?? [], () => undefined);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [err.message];
    throw err;
  }
}

/** A readable account of a valid config: what an operator should double-check before serving it. */
export function describeConfig(config: KnockgateConfig): string {
  const { source, daemon, doors, nftables } = config;
  const kind = source.kind === 'knockd' ? 'knockd.conf' : 'knockgate config';
  const lines = [`${source.file}: valid ${kind}, ${doors.length} door${doors.length === 1 ? '' : 's'}`];
  if (source.file === DEFAULT_CONFIG_NAME) {
    lines.push('  note: this is the built-in default, whose sequence anyone can read; write your own config before exposing a host');
  }
  const defaultInterfaces = source.kind === 'knockd' ? `${KNOCKD_DEFAULT_INTERFACE}, where knockd listens without Interface (set Interface in [options] to listen elsewhere)` : 'every non-loopback interface that is up';
  lines.push(`  capture on: ${daemon.interfaces.length > 0 ? daemon.interfaces.join(', ') : defaultInterfaces}`);
  const log = [`${daemon.logFormat} format`, `level ${daemon.logLevel}`];
  if (daemon.logFile) log.push(`to ${daemon.logFile}`);
  if (daemon.useSyslog) log.push('and to syslog');
  lines.push(`  log: ${log.join(', ')}`);
  // aws-sg, iptables and command doors make no nftables table of their own.
  if (doors.some((d) => d.action.kind === 'gate' && d.action.gate === 'nftables')) {
    const host = nftables.hostChain ? `, accept rule in ${nftables.hostChain.family} ${nftables.hostChain.table} ${nftables.hostChain.chain}` : '';
    lines.push(`  nftables: table inet ${nftables.table}, mark 0x${nftables.mark.toString(16)}, on stop ${nftables.onStop}${host}`);
  }
  const iptables = config.iptables;
  if (iptables && doors.some((d) => d.action.kind === 'gate' && d.action.gate === 'iptables')) {
    lines.push(`  iptables: chain ${iptables.chain} via ${iptables.iptables}/${iptables.ip6tables}, on stop ${iptables.onStop}`);
  }
  if (config.aws) {
    const region = config.aws.region ?? 'from AWS_REGION or the profile';
    lines.push(`  aws: security groups ${config.aws.securityGroups.join(', ')}, region ${region}, on stop ${config.aws.onStop}`);
  }
  for (const door of doors) lines.push('', ...describeDoor(door), ...describeKernelDoor(config, door.knock.name));
  if (config.spa) lines.push('', ...describeSpa(config.spa));
  return `${lines.join('\n')}\n`;
}

function describeDoor({ knock, action }: DoorConfig): string[] {
  const knocks = knock.sequence.length;
  const lines = [
    `door ${knock.name}`,
    `  sequence:  ${formatSequence(knock.sequence)}  (${knocks} knock${knocks === 1 ? '' : 's'} within ${formatDuration(knock.seqTimeoutMs)})`,
    `  tcp flags: ${formatTcpFlags(knock.tcpFlags)}`,
    `  sent to:   ${knock.targets.length > 0 ? knock.targets.join(', ') : 'any local address of the capture interfaces'}`,
  ];
  if (action.kind === 'gate') {
    lines.push(`  opens:     ${action.open.map(formatPort).join(', ')} for ${formatDuration(action.openForMs)} via ${action.gate}`);
    lines.push(...describeScope(action.scope));
    const { commands } = action;
    if (commands) {
      const show = (c: CommandTemplate | undefined) => (c === undefined ? 'nothing' : 'shell' in c ? `sh -c ${JSON.stringify(c.shell)}` : JSON.stringify(c.argv));
      lines.push(`  start:     ${show(commands.start)}`, `  stop:      ${show(commands.stop)}  (each killed after ${formatDuration(commands.timeLimitMs)})`);
    }
  } else {
    lines.push(...describeCommands(action));
  }
  return lines;
}

function describeCommands(action: KnockdCommandAction): string[] {
  const row = (label: string, text: string) => `  ${label.padEnd(24)} ${text}`;
  const start = (label: string, cmd: string | undefined, v4?: string) => row(label, cmd === undefined || cmd === '' ? 'nothing' : cmd === v4 ? 'same as IPv4' : cmd);
  // As knockd: without a start command for the family nothing runs, its stop neither; the stop counts from the start's end.
  const stop = (startCmd: string | undefined, cmd: string | undefined, v4?: string) =>
    !startCmd
      ? row('then:', cmd ? 'nothing (no start command, so no stop either)' : 'no stop command')
      : cmd === undefined || cmd === ''
        ? row('then:', 'no stop command')
        : row(`then ${formatDuration(action.cmdTimeoutMs)} after it ends:`, cmd === v4 ? 'same as IPv4' : cmd);
  return [start('runs on IPv4:', action.start4), stop(action.start4, action.stop4), start('runs on IPv6:', action.start6, action.start4), stop(action.start6, action.stop6, action.stop4)];
}

/** knockd's own notation, so it can be pasted back into knockd.conf or a `knock` command line. */
function formatSequence(steps: readonly KnockStep[]): string {
  return steps.map((s) => `${s.port}:${s.proto}`).join(',');
}

/** knockd's tcpflags notation (`syn,!ack`), or `any` when no flag is tested. */
function formatTcpFlags(rule: TcpFlagRule): string {
  const names = Object.keys(TcpFlag) as TcpFlagName[];
  const parts = names.flatMap((n) => ((rule.set & TcpFlag[n]) !== 0 ? [n] : (rule.clear & TcpFlag[n]) !== 0 ? [`!${n}`] : []));
  return parts.length > 0 ? parts.join(',') : 'any';
}

function formatPort(p: PortSpec): string {
  return `${p.port}/${p.proto}`;
}
