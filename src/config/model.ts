import type { KnockDoor } from '../core/door.js';
import type { PortSpec } from '../core/packet.js';
import type { LogFormat } from '../log/logger.js';

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
}

export type DoorAction = GateAction | KnockdCommandAction;

/** knockgate's own doors: open ports through a gate for a while. */
export interface GateAction {
  kind: 'gate';
  gate: 'nftables';
  open: PortSpec[];
  openForMs: number;
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

export const DEFAULTS = {
  stateDir: '/var/lib/knockgate',
  controlSocket: '/run/knockgate/control.sock',
  maxTrackedSources: 65_536,
  seqTimeoutMs: 25_000,
  cmdTimeoutMs: 10_000,
  openForMs: 30_000,
  nftTable: 'knockgate',
  nftMark: 0x4b47,
} as const;
