import { isIPv4 } from 'node:net';

/**
 * Ethernet frames for the conformance sender: one TCP segment or UDP datagram over IPv4 or IPv6,
 * with real checksums, so the server's kernel treats each like a packet from a real client.
 * Any TCP flags and any source address: every case gets sources of its own.
 */

export const TCP_FLAG_BITS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 } as const;

export interface WirePacket {
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  proto: 'tcp' | 'udp';
  srcPort: number;
  dstPort: number;
  /** TCP flags byte (ignored for UDP). */
  flags: number;
}

const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function macBytes(mac: string): number[] {
  const parts = mac.split(':').map((h) => Number.parseInt(h, 16));
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`${mac} is not an Ethernet address`);
  return parts;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

function ipv6Bytes(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap(u16);
}

/** The Internet checksum (RFC 1071) over the bytes. */
function checksum(data: number[]): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) + (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function frame(p: WirePacket): Buffer {
  const v4 = isIPv4(p.src);
  const src = v4 ? ipv4Bytes(p.src) : ipv6Bytes(p.src);
  const dst = v4 ? ipv4Bytes(p.dst) : ipv6Bytes(p.dst);
  const protoNumber = p.proto === 'tcp' ? 6 : 17;
  const segment =
    p.proto === 'tcp'
      ? [...u16(p.srcPort), ...u16(p.dstPort), ...u32(0x1000), ...u32((p.flags & TCP_FLAG_BITS.ack) !== 0 ? 0x2000 : 0), 5 << 4, p.flags & 0x3f, ...u16(64240), 0, 0, 0, 0]
      : [...u16(p.srcPort), ...u16(p.dstPort), ...u16(8), 0, 0];
  const pseudo = v4 ? [...src, ...dst, 0, protoNumber, ...u16(segment.length)] : [...src, ...dst, ...u32(segment.length), 0, 0, 0, protoNumber];
  const sum = checksum([...pseudo, ...segment]);
  const at = p.proto === 'tcp' ? 16 : 6;
  segment[at] = sum >> 8;
  segment[at + 1] = sum & 0xff;
  let ip: number[];
  if (v4) {
    ip = [0x45, 0, ...u16(20 + segment.length), 0, 1, 0x40, 0, 64, protoNumber, 0, 0, ...src, ...dst];
    const ipSum = checksum(ip);
    ip[10] = ipSum >> 8;
    ip[11] = ipSum & 0xff;
  } else {
    ip = [0x60, 0, 0, 0, ...u16(segment.length), protoNumber, 64, ...src, ...dst];
  }
  return Buffer.from([...macBytes(p.dstMac), ...macBytes(p.srcMac), ...u16(v4 ? 0x0800 : 0x86dd), ...ip, ...segment]);
}
