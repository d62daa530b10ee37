import type { Proto } from './packet.js';

/** One knock of a sequence: a port, its protocol, and (TCP only) the flags it must carry. */
export interface KnockStep {
  proto: Proto;
  port: number;
}

/**
 * knockd's `tcpflags`: bits that must be set and bits that must be clear. A TCP knock whose flags
 * do not match is ignored (neither advances nor resets), exactly as knockd does.
 */
export interface TcpFlagRule {
  set: number;
  clear: number;
}

/**
 * How a door reacts to packets that are not the expected next knock.
 * - `knockd`: only packets to ports of some door count; a wrong one silently ends the attempt
 *   (knockd 0.8 behaviour, kept for doors read from a knockd.conf). An in-order port sweep
 *   therefore opens such a door (FIELD.md §1.9 T8).
 * - `strict`: any other new connection or datagram from a knocking source to a watched address
 *   ends the attempt, so a sweep never opens it. knockgate's own doors default to it.
 */
export type SequenceMode = 'knockd' | 'strict';

export interface KnockDoor {
  name: string;
  sequence: KnockStep[];
  /** Milliseconds from the first knock within which the last must arrive. */
  seqTimeoutMs: number;
  tcpFlags: TcpFlagRule;
  /** Destination addresses knocks must be sent to; empty = any local address of the interface. */
  targets: string[];
  mode: SequenceMode;
  /**
   * A copy of the previous knock (a retransmitted SYN, a doubled datagram) is ignored instead of
   * ending the attempt. knockd ends it (FIELD.md §1.9 T4); knockgate's own doors tolerate it.
   */
  tolerateRepeat: boolean;
  /**
   * Tracked by the kernel instead of the daemon: the sequence is compiled into nftables sets and
   * rules (gates/nft-kernel-door.ts), so the door keeps working while knockgate is stopped.
   */
  kernel?: boolean;
  /** Which concrete sequence of a time-derived or one-time door this is (see DoorSchedule). */
  variant?: number;
}
