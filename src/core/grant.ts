import type { Family, PortSpec } from './packet.js';
import type { NatForward } from './spa-access.js';

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
