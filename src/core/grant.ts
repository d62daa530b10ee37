import type { Family, PortSpec } from './packet.js';

/** Where a NAT grant forwards: from a bastion port to a host behind the bastion. */
export interface NatForward {
  /** The bastion port the client connects to (the message's proto/port). */
  listen: PortSpec;
  /** IPv4 address of the host behind the bastion. */
  host: string;
  port: number;
}

/**
 * Who asked for a grant. Today's doors know their askers by what they share: a knock door's
 * sequence or secret, an SPA door's keys (an access.conf stanza is such a door). Per-operator
 * identities (an SSH key, a certificate) are further kinds of this union.
 */
export type Identity = { kind: 'door'; door: string };

/** An identity as one log field: `door ssh`. */
export function describeIdentity(identity: Identity): string {
  return `${identity.kind} ${identity.door}`;
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
  /** Who asked; absent on grants read back from a gate or a journal that did not record it. */
  identity?: Identity;
}

export function grantId(door: string, src: string): string {
  return `${door}|${src}`;
}
