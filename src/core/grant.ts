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
 * Who asked for a grant: a door whose askers share its secret (a knock sequence, an SPA door's keys,
 * an access.conf stanza), or one operator: an SSH key from the door's authorized_keys (its comment
 * names the operator), or an SSH certificate from a CA the door trusts.
 */
export type Identity =
  | { kind: 'door'; door: string }
  | { kind: 'ssh-key'; door: string; comment: string; fingerprint: string }
  | { kind: 'ssh-certificate'; door: string; keyId: string; serial: string; principals: string[]; fingerprint: string };

/** An identity as one log field: `door ssh`, `ssh-key alice@laptop SHA256:…`, `ssh-certificate "alice" serial 7 SHA256:…`. */
export function describeIdentity(identity: Identity): string {
  switch (identity.kind) {
    case 'door':
      return `door ${identity.door}`;
    case 'ssh-key':
      return `ssh-key ${identity.comment === '' ? '(no comment)' : identity.comment} ${identity.fingerprint}`;
    case 'ssh-certificate':
      return `ssh-certificate ${JSON.stringify(identity.keyId)} serial ${identity.serial} ${identity.fingerprint}`;
  }
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
  /** `grant_prefix`: the grant covers `src`'s network of this length, and `src` is that network's address. Absent: `src` alone. */
  prefix?: number;
  /** `one_shot`: the first new connection to a port uses that port's grant up; the connection itself stays. */
  oneShot?: true;
}

/** What a gate's element or rule carries of a grant's scope: its prefix and whether it is one-shot. */
export function grantScopeFields(g: Pick<Grant, 'prefix' | 'oneShot'>): { prefix?: number; oneShot?: true } {
  return { ...(g.prefix !== undefined && { prefix: g.prefix }), ...(g.oneShot && { oneShot: true as const }) };
}

/** The source a gate lets in: `10.0.0.5`, or `10.0.0.0/24` for a prefix grant. */
export function grantSource(grant: Pick<Grant, 'src' | 'prefix'>): string {
  return grant.prefix === undefined ? grant.src : `${grant.src}/${grant.prefix}`;
}

export function grantId(door: string, src: string): string {
  return `${door}|${src}`;
}
