/** What a sensor hands the core: one decoded, bounds-checked packet. */

export type Family = 4 | 6;
export type Proto = 'tcp' | 'udp';

/** A protocol and port, as in `22/tcp`. */
export interface PortSpec {
  proto: Proto;
  port: number;
}

/** Offset of UDP ports in `portCode`: one past the highest port. */
const UDP_PORT_CODES = 65_536;

/** A protocol and port as one number (UDP ports above the TCP ones), so a packet's lookup builds no string. */
export function portCode(proto: Proto, port: number): number {
  return proto === 'tcp' ? port : port + UDP_PORT_CODES;
}

/** TCP flag bits as they sit in the TCP header's flags byte. */
export const TcpFlag = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
} as const;
export type TcpFlagName = keyof typeof TcpFlag;

export interface KnockPacket {
  family: Family;
  /** Source address in canonical text form (IPv4 dotted quad, IPv6 compressed lower-case). */
  src: string;
  dst: string;
  proto: Proto;
  srcPort: number;
  dstPort: number;
  /** TCP flags byte; 0 for UDP. */
  tcpFlags: number;
  /**
   * UDP payload (or TCP payload) — SPA sensors need it; knock doors ignore it. From the pcap
   * sensor it is a view into the capture's batch buffer, which the next batch overwrites: read it
   * during the onPacket call, copy what must outlive it.
   */
  payload: Uint8Array;
  /** Capture time in milliseconds since the epoch. */
  time: number;
  /** Interface the packet was seen on. */
  iface: string;
}
