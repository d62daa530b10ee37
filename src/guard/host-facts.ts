import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
  /** IPv6 default gateways and neighbours (from iproute2; filled by the caller that needs them). */
  ipv6Gateways?: Array<{ ip: string; iface: string }>;
  ipv6Neighbours?: ArpEntry[];
  /** net.ipv6.conf.<interface>.accept_ra, per interface (`all` and `default` left out); undefined without IPv6. */
  acceptRa?: Record<string, number>;
  /** Names of the DHCP client processes running. */
  dhcpClients?: string[];
  /** Docker is installed; its daemon.json's default bind address. */
  docker?: { defaultBindIp?: string };
}

/** Process names of DHCP clients, as /proc/<pid>/comm shows them (15 characters at most). */
const DHCP_CLIENTS = ['dhclient', 'dhcpcd', 'udhcpc', 'dhcpcd5', 'NetworkManager', 'systemd-network'];

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

/** The slower facts only `guard advise` needs: every process's name, sysctls per interface, Docker's config. */
export function readAdviceFacts(proc = '/proc', etc = '/etc'): Pick<HostFacts, 'acceptRa' | 'dhcpClients' | 'docker'> {
  const out: Pick<HostFacts, 'acceptRa' | 'dhcpClients' | 'docker'> = {};
  const conf = `${proc}/sys/net/ipv6/conf`;
  if (existsSync(conf)) {
    out.acceptRa = {};
    for (const iface of list(conf)) {
      if (iface === 'all' || iface === 'default' || iface === 'lo') continue;
      const v = numbers(read(`${conf}/${iface}/accept_ra`));
      if (v.length === 1) out.acceptRa[iface] = v[0]!;
    }
  }
  const names = new Set<string>();
  for (const pid of list(proc)) if (/^\d+$/.test(pid)) names.add(read(`${proc}/${pid}/comm`)?.trim() ?? '');
  out.dhcpClients = DHCP_CLIENTS.filter((c) => names.has(c));
  if (existsSync(`${etc}/docker`) || existsSync('/usr/bin/dockerd')) {
    let ip: unknown;
    try {
      ip = (JSON.parse(read(`${etc}/docker/daemon.json`) ?? '{}') as { ip?: unknown }).ip;
    } catch {
      ip = undefined;
    }
    out.docker = typeof ip === 'string' ? { defaultBindIp: ip } : {};
  }
  return out;
}

function list(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
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
