/**
 * One conformance case against knockd: the doors it adds to a knockd.conf and the packets it
 * sends. Ports are offsets into the case's own block and sources are indexes into the case's own
 * addresses, so that many cases share one knockd.conf, one knockd and one knockgate without
 * touching each other (see batch.ts); knockd and knockgate see the same frames on the same wire.
 */

export type Family = 4 | 6;
export type Proto = 'tcp' | 'udp';
/**
 * Where a packet goes or a door's Target points: the server's address, a second address of the
 * same interface (local too), or an address that is not the server's (a host behind it).
 */
export type Destination = 'local' | 'local2' | 'remote';

/** Ports a case may use: offsets 0..PORTS_PER_CASE-1 into its block. */
export const PORTS_PER_CASE = 16;
/** Sources a case may use. */
export const SOURCES_PER_CASE = 4;

export interface Step {
  /** Offset into the case's port block. */
  port: number;
  proto: Proto;
}

/** A door's command: what the recorder writes (`label`), and shell text after it (`; exit 3`, `; sleep 2`). */
export interface CommandSpec {
  label: string;
  then?: string;
}

export interface CaseDoor {
  /** One letter; the door is called `c<case index><letter>` in the config. */
  key: string;
  sequence?: Step[];
  /** Lines of a one_time_sequences file, each a sequence. */
  oneTime?: Step[][];
  seqTimeout?: number;
  /** knockd syntax, e.g. `fin,!ack`. */
  tcpFlags?: string;
  target?: { to: Exclude<Destination, 'local'>; family: Family };
  /** null writes the directive with an empty value (`start_command_6 =`). */
  start?: CommandSpec | null;
  start6?: CommandSpec | null;
  stop?: CommandSpec | null;
  stop6?: CommandSpec | null;
  cmdTimeout?: number;
  /** Lines written into the door's section as they are; `{p0}`..`{p15}` become the case's ports. */
  rawLines?: string[];
}

export interface Knock {
  /** Milliseconds after the case's start. */
  at: number;
  source: number;
  family: Family;
  to: Destination;
  proto: Proto;
  port: number;
  /** TCP flags byte; SYN when absent. */
  flags?: number;
  /** Server interface the frame arrives on. */
  iface?: 'eth0' | 'eth1';
  /** Sent by the real `knock` client from a lab host instead of as a raw frame (source = that host). */
  viaKnockClient?: boolean;
}

export interface KnockdCase {
  /** Names the behaviour and every dimension value, e.g. `open/flags=fin,!ack/steps=tcp+udp/v6/one-time`. */
  id: string;
  doors: CaseDoor[];
  knocks: Knock[];
  /** How long after the case's start its last effect may come (stop commands included). */
  durationMs: number;
  /** The case starts on a whole second of the wall clock (knockd counts seq_timeout in whole seconds). */
  wholeSecond?: boolean;
}

/** Global `[options]` a batch runs with; cases that need other ones run in a batch of their own. */
export interface BatchOptions {
  logFile: boolean;
  useSyslog: boolean;
  /** `Interface =` in [options]; absent: knockd's default. */
  iface?: 'eth0' | 'eth1';
  /**
   * A door whose first knock, sent before the cases start and never followed up, stays at the
   * head of knockd's attempt list: knockd drops its whole list when the head attempt ends, which
   * would make independent cases in one knockd depend on each other. Batches that show that knockd
   * bug on purpose run without it.
   */
  sentinel: boolean;
  /** The server has eth1 as well as eth0 (cases about which interface is watched). */
  secondInterface: boolean;
  /** The server's first interface is renamed, so that there is no eth0. */
  noEth0?: boolean;
  /**
   * SIGHUP both daemons this long after the batch's start; with `broken`, knockd.conf gets a line
   * neither reads first (knockd exits on a bad reload, knockgate keeps the running config).
   */
  reload?: { at: number; broken?: boolean };
}

export interface CaseGroup {
  name: string;
  options: BatchOptions;
  cases: KnockdCase[];
}
