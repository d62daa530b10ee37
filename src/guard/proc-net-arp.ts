import { procAddress } from './proc-net-sockets.js';

/**
 * Parsers for the IPv4 neighbour table (/proc/net/arp) and the IPv4 routing table
 * (/proc/net/route). Pure; lines that do not parse are skipped.
 */

export interface ArpEntry {
  ip: string;
  /** Lower-case, colon-separated. */
  mac: string;
  iface: string;
}

/** ATF_COM: the entry is complete (resolved); without it the MAC field is all zeros. */
const ATF_COM = 0x2;
/** RTF_UP | RTF_GATEWAY in /proc/net/route flags. */
const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Complete entries of /proc/net/arp (`IP address  HW type  Flags  HW address  Mask  Device`). */
export function parseProcNetArp(text: string): ArpEntry[] {
  const out: ArpEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, mac, , iface] = line.trim().split(/\s+/);
    const mac_ = mac?.toLowerCase();
    if (!ip || !IPV4.test(ip) || !mac_ || !MAC.test(mac_) || !iface) continue;
    if ((Number.parseInt(flags ?? '', 16) & ATF_COM) === 0 || isUnusableMac(mac_)) continue;
    out.push({ ip, mac: mac_, iface });
  }
  return out;
}

/** Gateways of IPv4 default routes (destination 0.0.0.0/0, flags up + gateway). */
export function parseDefaultGateways(text: string, littleEndian = true): Array<{ ip: string; iface: string }> {
  const out: Array<{ ip: string; iface: string }> = [];
  for (const line of text.split('\n').slice(1)) {
    const [iface, destination, gateway, flags, , , , mask] = line.trim().split(/\s+/);
    const f = Number.parseInt(flags ?? '', 16);
    if (!iface || destination !== '00000000' || mask !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(gateway ?? '')) continue;
    if ((f & (RTF_UP | RTF_GATEWAY)) !== (RTF_UP | RTF_GATEWAY)) continue;
    out.push({ ip: procAddress(gateway!, littleEndian), iface });
  }
  return out;
}

/** All-zero (unresolved) and broadcast addresses never identify a neighbour. */
export function isUnusableMac(mac: string): boolean {
  return mac === '00:00:00:00:00:00' || mac === 'ff:ff:ff:ff:ff:ff';
}
