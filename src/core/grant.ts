import type { Family, PortSpec } from './packet.js';

/** Where a NAT grant forwards: from a bastion port to a host behind the bastion. */
export interface NatForward {
  /** The bastion port the client connects to (the message's proto/port). */
  listen: PortSpec;
  /** IPv4 address of the host behind the bastion. */
  host: string;
  port: number;
}

/** A decision: this source may open these ports until `expiresAt`. */
export interface Grant {
  /** Stable id: door + source; a second open of the same door by the same source extends it. */
  id: string;
  door: string;
  src: string;
  family: Family;
  ports: PortSpec[];
  /** Milliseconds since the epoch. */
  grantedAt: number;
  expiresAt: number;
  /** SPA NAT access: connections to `nat.listen` from `src` are forwarded to a host behind the bastion. */
  nat?: NatForward;
}

export function grantId(door: string, src: string): string {
  return `${door}|${src}`;
}
