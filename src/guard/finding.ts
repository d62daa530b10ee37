import type { Proto } from '../core/packet.js';
import type { OwnerSpec } from '../config/model.js';
import { describeHolder, type Listener } from './socket-table.js';

/** What the guard reports. One shape for log lines, `guard check --json` and the alert command. */

export type PortFindingKind = 'preempted' | 'co-bound' | 'missing' | 'unexpected';
export type ArpFindingKind = 'arp-changed' | 'arp-conflict';
export type FindingKind = PortFindingKind | ArpFindingKind;

export interface PortFinding {
  kind: PortFindingKind;
  /** Stable identity across scans: the same socket(s) on the same port give the same key. */
  key: string;
  summary: string;
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

export interface ArpFinding {
  kind: ArpFindingKind;
  key: string;
  summary: string;
  ip: string;
  /** The MAC first learnt for the address. */
  learnedMac: string;
  /** Every MAC seen for the address within the conflict window, latest last. */
  macs: string[];
  interfaces: string[];
}

export type Finding = PortFinding | ArpFinding;

export function isPortFinding(f: Finding): f is PortFinding {
  return f.kind !== 'arp-changed' && f.kind !== 'arp-conflict';
}

/** A finding in one line's worth of fields, for `knockgate status`: what, where, and who holds it. */
export interface FindingBrief {
  kind: FindingKind;
  summary: string;
  /** `[address]:port/proto` (`port/proto` when the finding covers every address), or the neighbour's IP. */
  where: string;
  /** The holders of the sockets concerned (`nobody` when missing), or the MACs seen for the IP. */
  holders: string;
}

export function briefFinding(f: Finding): FindingBrief {
  if (!isPortFinding(f)) return { kind: f.kind, summary: f.summary, where: f.ip, holders: f.macs.join(', ') };
  const address = f.address === undefined ? '' : `${f.address.includes(':') ? `[${f.address}]` : f.address}:`;
  const holders = f.sockets.length === 0 ? 'nobody' : f.sockets.map(describeHolder).join('; ');
  return { kind: f.kind, summary: f.summary, where: `${address}${f.port}/${f.proto}`, holders };
}
