import type { Proto } from '../core/packet.js';
import type { OwnerSpec } from '../config/model.js';
import { describeHolder, type Listener } from './socket-table.js';

/**
 * What the guard reports. One shape for log lines, `guard check --json` and the alert command.
 * Every finding names its family (where it was seen: the socket tables, the neighbour tables,
 * the link, the NAT rules), so code that handles one family says so and a new kind cannot slip
 * into another's handling. A finding seen in another network namespace than the guard's own
 * carries that namespace's name in `netns`.
 */

export type PortFindingKind = 'preempted' | 'co-bound' | 'missing' | 'unexpected';
export type NeighbourFindingKind = 'arp-changed' | 'arp-conflict' | 'ndp-changed' | 'ndp-conflict';
export type LinkFindingKind = 'rogue-dhcp' | 'rogue-router';
export type NatFindingKind = 'diverted';
export type FindingKind = PortFindingKind | NeighbourFindingKind | LinkFindingKind | NatFindingKind;

interface FindingBase {
  /** Stable identity across scans: the same cause gives the same key, so it is reported once. */
  key: string;
  summary: string;
  /** The network namespace's name, when it is not the guard's own. */
  netns?: string;
}

export interface PortFinding extends FindingBase {
  family: 'port';
  kind: PortFindingKind;
  proto: Proto;
  port: number;
  address?: string;
  /** The `[guard.expect.NAME]` it breaks, if any. */
  expectation?: string;
  expected?: OwnerSpec;
  /** Why each socket does not match the expected owner. */
  reasons?: string[];
  /** The sockets concerned, with every visible owner (pid, uid, exe, cgroup). */
  sockets: Listener[];
}

export interface NeighbourFinding extends FindingBase {
  family: 'neighbour';
  kind: NeighbourFindingKind;
  ip: string;
  /** The MAC learnt for the address; absent when several answered from the start. */
  learnedMac?: string;
  /** Every MAC seen for the address within the conflict window, latest last. */
  macs: string[];
  interfaces: string[];
}

/** What a rogue DHCP server offered: enough to see where it would send the host's traffic. */
export interface DhcpOffer {
  /** OFFER or ACK. */
  message: 'offer' | 'ack';
  yourAddress?: string;
  router?: string[];
  dns?: string[];
  leaseSeconds?: number;
  subnetMask?: string;
}

export interface RogueDhcpFinding extends FindingBase {
  family: 'link';
  kind: 'rogue-dhcp';
  /** The server identifier (option 54), else the packet's source address. */
  server: string;
  mac: string;
  iface: string;
  offer: DhcpOffer;
}

export interface RogueRouterFinding extends FindingBase {
  family: 'link';
  kind: 'rogue-router';
  /** The advertisement's source (a link-local address). */
  router: string;
  mac?: string;
  iface: string;
  /** Seconds a host keeps it as a default router; 0 = not a default router. */
  routerLifetime: number;
  prefixes: string[];
  /** Recursive DNS servers it announces (RFC 8106). */
  dns: string[];
}

export interface NatFinding extends FindingBase {
  family: 'nat';
  kind: NatFindingKind;
  /** `nft` for a native nftables table, `iptables`/`ip6tables` for the xtables nat table (either back-end). */
  tool: 'nft' | 'iptables' | 'ip6tables';
  table: string;
  chain: string;
  /** The rule as the tool prints it. */
  rule: string;
  /** Where the traffic goes instead: `10.0.0.5:2222`, `:2222` (REDIRECT), `tproxy :2222`. */
  target: string;
  proto: Proto;
  port: number;
  expectation: string;
}

export type LinkFinding = RogueDhcpFinding | RogueRouterFinding;
export type Finding = PortFinding | NeighbourFinding | LinkFinding | NatFinding;
export type FindingFamily = Finding['family'];

export function isPortFinding(f: Finding): f is PortFinding {
  return f.family === 'port';
}

/** A finding in one line's worth of fields, for `knockgate status`: what, where, and who holds it. */
export interface FindingBrief {
  kind: FindingKind;
  summary: string;
  /**
   * `[address]:port/proto` (`port/proto` when the finding covers every address), the neighbour's
   * IP, the rogue server's or router's address, or the NAT table and chain; ` in NETNS` after it.
   */
  where: string;
  /** The holders of the sockets concerned (`nobody` when missing), the MACs seen, or where a diverted port goes. */
  holders: string;
}

export function briefFinding(f: Finding): FindingBrief {
  const brief = (where: string, holders: string): FindingBrief => ({ kind: f.kind, summary: f.summary, where: f.netns === undefined ? where : `${where} in ${f.netns}`, holders });
  switch (f.family) {
    case 'port': {
      const address = f.address === undefined ? '' : `${f.address.includes(':') ? `[${f.address}]` : f.address}:`;
      return brief(`${address}${f.port}/${f.proto}`, f.sockets.length === 0 ? 'nobody' : f.sockets.map(describeHolder).join('; '));
    }
    case 'neighbour':
      return brief(f.ip, f.macs.join(', '));
    case 'link':
      return f.kind === 'rogue-dhcp' ? brief(`${f.server} on ${f.iface}`, f.mac) : brief(`${f.router} on ${f.iface}`, f.mac ?? 'MAC unknown');
    case 'nat':
      return brief(`${f.port}/${f.proto} in ${f.tool} ${f.table} ${f.chain}`, `→ ${f.target}`);
  }
}
