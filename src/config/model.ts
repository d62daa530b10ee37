import type { SequenceSource } from '../core/door-schedule.js';
import type { KnockDoor } from '../core/door.js';
import type { PortSpec } from '../core/packet.js';
import type { LogFormat } from '../log/logger.js';
import type { AwsSettings } from './aws-config.js';
import type { GuardSettings } from './guard-config.js';
import type { SpaConfig } from './spa-config.js';

/**
 * The validated, resolved configuration every part of the daemon consumes. Both config readers
 * (knockgate TOML and knockd.conf) produce this; nothing downstream re-validates it.
 */
export interface KnockgateConfig {
  /** Where it came from, for messages. */
  source: { file: string; kind: 'knockgate' | 'knockd' };
  daemon: DaemonSettings;
  doors: DoorConfig[];
  nftables: NftablesSettings;
  /** Settings of the iptables gate; absent when the config source has none (the defaults apply). */
  iptables?: IptablesSettings;
  /** The port-hijack guard; absent = the daemon does not poll it. */
  guard?: GuardSettings;
  /** SPA doors and how packets reach them; absent = no SPA. */
  spa?: SpaConfig;
  /** Security Groups of `gate = "aws-sg"` doors; absent = no AWS. */
  aws?: AwsSettings;
}

export interface DaemonSettings {
  /** Interfaces to capture on; empty = every non-loopback interface that is up. */
  interfaces: string[];
  logFormat: LogFormat;
  logLevel: string;
  logFile?: string;
  /** knockd's UseSyslog: log lines also go to syslog (ident knockgate). */
  useSyslog: boolean;
  pidFile?: string;
  /** Grant journal and other state that must survive a restart. */
  stateDir: string;
  /** Unix socket `knockgate status` talks to. */
  controlSocket: string;
  /** Bound of the knock tracker's table (sources with a knock in progress). */
  maxTrackedSources: number;
}

export interface DoorConfig {
  knock: KnockDoor;
  action: DoorAction;
  /** Where the sequence comes from when it is not fixed (time-derived, one-time); absent = fixed. */
  sequenceSource?: SequenceSource;
}

export type DoorAction = GateAction | KnockdCommandAction;

/** knockgate's own doors: open ports through a gate for a while. */
export interface GateAction {
  kind: 'gate';
  gate: 'nftables' | 'iptables' | 'command' | 'aws-sg';
  open: PortSpec[];
  openForMs: number;
  /** The door's own commands; present exactly when `gate` is `command`. */
  commands?: DoorCommands;
}

/** A command as configured: an argv array run directly, or a string run by /bin/sh. Placeholders unexpanded. */
export type CommandTemplate = { argv: [string, ...string[]] } | { shell: string };

/** Start/stop commands of a `gate = "command"` door: start when it opens, stop when the grant ends. */
export interface DoorCommands {
  start?: CommandTemplate;
  stop?: CommandTemplate;
  /** Each command is killed (with its process group) after this long. */
  timeLimitMs: number;
}

/** A knockd.conf door: shell commands with %IP%, exactly as knockd runs them. */
export interface KnockdCommandAction {
  kind: 'knockd-command';
  start4?: string;
  start6?: string;
  stop4?: string;
  stop6?: string;
  /** Delay between start and stop command (knockd `cmd_timeout`, default 10 s). */
  cmdTimeoutMs: number;
}

export interface NftablesSettings {
  /** Name of knockgate's own table (family inet). */
  table: string;
  /**
   * Opt-in for hosts that drop by default: a host chain (e.g. `inet filter input`) into which
   * knockgate inserts one accept rule for packets its own chain marked as granted.
   */
  hostChain?: { family: 'inet' | 'ip' | 'ip6'; table: string; chain: string };
  /** Packet mark (and mask) knockgate sets on granted NEW connections. */
  mark: number;
  /** On a clean stop: `close` removes grants and keeps ports protected; `keep` leaves grants to expire; `remove` deletes the table. */
  onStop: 'close' | 'keep' | 'remove';
}

export interface IptablesSettings {
  /** knockgate's chain in the filter table, jumped to from INPUT; grants live in `<chain>-grants`. */
  chain: string;
  /** Programs for IPv4 and IPv6 (e.g. iptables-legacy); `<program>-restore` must exist beside each. */
  iptables: string;
  ip6tables: string;
  /** Same meaning as for nftables: close = drop grants, keep = let them expire, remove = delete the chains. */
  onStop: 'close' | 'keep' | 'remove';
}

export const DEFAULTS = {
  stateDir: '/var/lib/knockgate',
  controlSocket: '/run/knockgate/control.sock',
  maxTrackedSources: 65_536,
  seqTimeoutMs: 25_000,
  cmdTimeoutMs: 10_000,
  openForMs: 30_000,
  nftTable: 'knockgate',
  nftMark: 0x4b47,
  iptablesChain: 'KNOCKGATE',
  commandTimeLimitMs: 30_000,
} as const;

export const DEFAULT_IPTABLES_SETTINGS: IptablesSettings = {
  chain: DEFAULTS.iptablesChain,
  iptables: 'iptables',
  ip6tables: 'ip6tables',
  onStop: 'close',
};
