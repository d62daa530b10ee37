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
 * - `knockd`: only packets to ports of some door count; a wrong one silently ends the attempt;
 *   a repeat of the previous knock also ends it (knockd 0.8 behaviour, kept for knockd.conf).
 */
export type SequenceMode = 'knockd';

export interface KnockDoor {
  name: string;
  sequence: KnockStep[];
  /** Milliseconds from the first knock within which the last must arrive. */
  seqTimeoutMs: number;
  tcpFlags: TcpFlagRule;
  /** Destination addresses knocks must be sent to; empty = any local address of the interface. */
  targets: string[];
  mode: SequenceMode;
}
