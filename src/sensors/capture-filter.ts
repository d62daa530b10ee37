import type { PortSpec } from '../core/packet.js';

/**
 * The libpcap filter a knock sensor compiles: destination ports only. TCP flags are matched in
 * userspace because libpcap's tcp[] indexing assumes an IPv4 header and misses IPv6.
 */

/** A packet always has a length above zero, so this matches nothing and libpcap still compiles it. */
export const MATCH_NOTHING = 'less 0';

/**
 * IPv6 packets whose first header is hop-by-hop, routing, destination options or AH: libpcap's
 * `tcp dst port` only looks past a fragment header, so these go to userspace to be walked.
 * They are rare in ordinary traffic, so letting them all through costs little.
 */
const IPV6_EXTENSION_HEADERS = '(ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 60 or ip6[6] == 51))';

export interface CaptureFilterOptions {
  /**
   * The interface's own Ethernet address. When given, only frames addressed to it (or to a
   * multicast/broadcast group) pass — what a non-promiscuous handle would see. Only valid on
   * Ethernet links.
   */
  stationAddress?: string;
  /**
   * Also pass every new TCP connection (SYN without ACK) and every UDP datagram, whatever the
   * port: strict doors must see a knocking source's other attempts to fail its sequence.
   * Established traffic (ACK set) still stays in the kernel.
   */
  newConnections?: boolean;
  /**
   * Pass the IPv6 extension-header packets (default true). With several rings on one interface
   * only one takes them, or each such packet would arrive once per ring.
   */
  extensionHeaders?: boolean;
  /** Also pass new TCP connections (SYN without ACK) to these ports, and nothing else of theirs. */
  firstConnectionPorts?: number[];
}

/** SYN without ACK over IPv4, and over IPv6 without extension headers (TCP flags at 40 + 13). */
const NEW_CONNECTIONS = '(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02) or udp';

export function captureFilter(ports: PortSpec[], opts: CaptureFilterOptions = {}): string {
  for (const { port } of ports) {
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`port ${port} is not a port number (0-65535)`);
  }
  const clauses: string[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const list = [...new Set(ports.filter((p) => p.proto === proto).map((p) => p.port))].sort((a, b) => a - b);
    if (list.length > 0) clauses.push(`${proto} dst port (${list.join(' or ')})`);
  }
  if (opts.newConnections) clauses.push(NEW_CONNECTIONS);
  const first = [...new Set(opts.firstConnectionPorts ?? [])].sort((a, b) => a - b);
  for (const port of first) if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`port ${port} is not a port number (1-65535)`);
  if (first.length > 0) {
    const to = `tcp dst port (${first.join(' or ')})`;
    clauses.push(`(${to} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02 and ${to})`);
  }
  if (clauses.length === 0) return MATCH_NOTHING;
  if (opts.extensionHeaders !== false) clauses.push(IPV6_EXTENSION_HEADERS);
  const portFilter = `(${clauses.join(' or ')})`;
  if (opts.stationAddress === undefined) return portFilter;
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(opts.stationAddress)) {
    throw new RangeError(`station address ${opts.stationAddress} is not an Ethernet address`);
  }
  return `(ether dst ${opts.stationAddress.toLowerCase()} or ether multicast) and ${portFilter}`;
}
