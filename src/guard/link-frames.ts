import { ipv6Text } from '../core/frame-decoder.js';
import { ipBytes } from '../core/ip-address.js';

/**
 * Ethernet, IPv4/UDP and IPv6/ICMPv6 framing for the link watchers: reading what they capture
 * (DHCP answers, router and neighbour advertisements, ARP) and building what they send (a
 * DHCPDISCOVER, a router solicitation, an ARP request). Pure: bytes in, values out, and back;
 * every reader returns undefined on a frame it cannot read, never throws.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8];
const MAX_VLAN_TAGS = 2;
const ETHERNET_HEADER = 14;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

export interface EthernetFrame {
  dst: string;
  src: string;
  type: number;
  payload: Uint8Array;
}

export function macText(bytes: Uint8Array, at = 0): string {
  return Array.from(bytes.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) throw new RangeError(`not a MAC address: ${mac}`);
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

/** An Ethernet II frame, past up to two VLAN tags. */
export function readEthernet(frame: Uint8Array): EthernetFrame | undefined {
  if (frame.length < ETHERNET_HEADER) return undefined;
  let at = 12;
  let type = (frame[at]! << 8) | frame[at + 1]!;
  for (let tags = 0; ETHERTYPE_VLAN.includes(type); tags++) {
    if (tags >= MAX_VLAN_TAGS || frame.length < at + 6) return undefined;
    at += 4;
    type = (frame[at]! << 8) | frame[at + 1]!;
  }
  return { dst: macText(frame, 0), src: macText(frame, 6), type, payload: frame.subarray(at + 2) };
}

export interface UdpDatagram {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** An unfragmented IPv4 UDP datagram. */
export function readIpv4Udp(packet: Uint8Array): UdpDatagram | undefined {
  if (packet.length < IPV4_MIN_HEADER || packet[0]! >> 4 !== 4) return undefined;
  const headerLength = (packet[0]! & 0x0f) * 4;
  const total = (packet[2]! << 8) | packet[3]!;
  const fragment = ((packet[6]! & 0x1f) << 8) | packet[7]!;
  if (headerLength < IPV4_MIN_HEADER || total > packet.length || total < headerLength + UDP_HEADER || packet[9] !== IPPROTO_UDP || fragment !== 0 || (packet[6]! & 0x20) !== 0) return undefined;
  const udp = packet.subarray(headerLength, total);
  const length = (udp[4]! << 8) | udp[5]!;
  if (length < UDP_HEADER || length > udp.length) return undefined;
  return {
    src: ipv4Text(packet, 12),
    dst: ipv4Text(packet, 16),
    srcPort: (udp[0]! << 8) | udp[1]!,
    dstPort: (udp[2]! << 8) | udp[3]!,
    payload: udp.subarray(UDP_HEADER, length),
  };
}

export interface Icmpv6Message {
  src: string;
  dst: string;
  hopLimit: number;
  type: number;
  code: number;
  /** The whole ICMPv6 message, from its type byte. */
  message: Uint8Array;
}

/** An ICMPv6 message directly after the IPv6 header (NDP carries no extension headers). */
export function readIpv6Icmp(packet: Uint8Array): Icmpv6Message | undefined {
  if (packet.length < IPV6_HEADER + 4 || packet[0]! >> 4 !== 6 || packet[6] !== IPPROTO_ICMPV6) return undefined;
  const length = (packet[4]! << 8) | packet[5]!;
  if (IPV6_HEADER + length > packet.length || length < 4) return undefined;
  const message = packet.subarray(IPV6_HEADER, IPV6_HEADER + length);
  return { src: ipv6Text(packet, 8), dst: ipv6Text(packet, 24), hopLimit: packet[7]!, type: message[0]!, code: message[1]!, message };
}

export function ipv4Text(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

export function ethernetFrame(dst: string, src: string, type: number, payload: Uint8Array): Buffer {
  const frame = Buffer.alloc(ETHERNET_HEADER + payload.length);
  frame.set(macBytes(dst), 0);
  frame.set(macBytes(src), 6);
  frame.writeUInt16BE(type, 12);
  frame.set(payload, ETHERNET_HEADER);
  return frame;
}

/** One's-complement sum of 16-bit words, folded (RFC 1071). */
function checksum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += (p[i]! << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv4UdpPacket(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Buffer {
  const udpLength = UDP_HEADER + payload.length;
  const packet = Buffer.alloc(IPV4_MIN_HEADER + udpLength);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = IPPROTO_UDP;
  packet.set(ipBytes(src), 12);
  packet.set(ipBytes(dst), 16);
  packet.writeUInt16BE(checksum([packet.subarray(0, IPV4_MIN_HEADER)]), 10);
  const udp = packet.subarray(IPV4_MIN_HEADER);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(udpLength, 4);
  udp.set(payload, UDP_HEADER);
  const pseudo = Buffer.alloc(12);
  pseudo.set(ipBytes(src), 0);
  pseudo.set(ipBytes(dst), 4);
  pseudo[9] = IPPROTO_UDP;
  pseudo.writeUInt16BE(udpLength, 10);
  udp.writeUInt16BE(checksum([pseudo, udp]) || 0xffff, 6);
  return packet;
}

/** An IPv6 packet carrying one ICMPv6 message; its checksum is filled in. */
export function ipv6IcmpPacket(src: string, dst: string, hopLimit: number, message: Uint8Array): Buffer {
  const packet = Buffer.alloc(IPV6_HEADER + message.length);
  packet[0] = 0x60;
  packet.writeUInt16BE(message.length, 4);
  packet[6] = IPPROTO_ICMPV6;
  packet[7] = hopLimit;
  packet.set(ipBytes(src), 8);
  packet.set(ipBytes(dst), 24);
  const icmp = packet.subarray(IPV6_HEADER);
  icmp.set(message);
  icmp.writeUInt16BE(0, 2);
  const pseudo = Buffer.alloc(40);
  pseudo.set(ipBytes(src), 0);
  pseudo.set(ipBytes(dst), 16);
  pseudo.writeUInt32BE(message.length, 32);
  pseudo[39] = IPPROTO_ICMPV6;
  icmp.writeUInt16BE(checksum([pseudo, icmp]), 2);
  return packet;
}

/** An ARP request (who-has `targetIp`, tell `senderIp`) from `senderMac`. */
export function arpRequest(senderMac: string, senderIp: string, targetIp: string): Buffer {
  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0);
  arp.writeUInt16BE(ETHERTYPE_IPV4, 2);
  arp[4] = 6;
  arp[5] = 4;
  arp.writeUInt16BE(1, 6);
  arp.set(macBytes(senderMac), 8);
  arp.set(ipBytes(senderIp), 14);
  arp.set(ipBytes(targetIp), 24);
  return ethernetFrame(BROADCAST_MAC, senderMac, ETHERTYPE_ARP, arp);
}
