import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { parseDefaultGateways, parseProcNetArp, type ArpEntry } from './proc-net-arp.js';

/** The host settings that decide whether a port can be preempted, read from /proc and /run. */

export interface HostFacts {
  /** net.ipv4.ip_unprivileged_port_start (per network namespace; also covers IPv6 binds). */
  unprivilegedPortStart?: number;
  /** net.ipv4.ip_local_port_range. */
  localPortRange?: { low: number; high: number };
  /** systemd is the init system (/run/systemd/system exists). */
  systemd: boolean;
  /** net.ipv4.conf.all.arp_accept. */
  arpAccept?: number;
  gateways: Array<{ ip: string; iface: string }>;
  arp: ArpEntry[];
}

export function readHostFacts(proc = '/proc'): HostFacts {
  const facts: HostFacts = { systemd: existsSync('/run/systemd/system'), gateways: readGateways(proc), arp: readArpTable(proc) };
  const start = numbers(read(`${proc}/sys/net/ipv4/ip_unprivileged_port_start`));
  if (start.length === 1) facts.unprivilegedPortStart = start[0]!;
  const range = numbers(read(`${proc}/sys/net/ipv4/ip_local_port_range`));
  if (range.length === 2) facts.localPortRange = { low: range[0]!, high: range[1]! };
  const accept = numbers(read(`${proc}/sys/net/ipv4/conf/all/arp_accept`));
  if (accept.length === 1) facts.arpAccept = accept[0]!;
  return facts;
}

export function readGateways(proc = '/proc'): Array<{ ip: string; iface: string }> {
  return parseDefaultGateways(read(`${proc}/net/route`) ?? '', endianness() === 'LE');
}

export function readArpTable(proc = '/proc'): ArpEntry[] {
  return parseProcNetArp(read(`${proc}/net/arp`) ?? '');
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function numbers(text: string | undefined): number[] {
  return (text ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n));
}
