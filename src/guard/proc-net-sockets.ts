import { ipv6Text } from '../core/frame-decoder.js';
import type { Family, Proto } from '../core/packet.js';

/**
 * Parses the text of /proc/net/{tcp,tcp6,udp,udp6} into the sockets that listen. Pure: text in,
 * values out; a line it cannot read is counted and skipped, never thrown on.
 */

/**
 * How a socket holds its port: `listen` a TCP listener; `bound` a TCP socket bound without
 * listening (it holds the port, and may listen at any moment: sock_diag only); `unconnected` a
 * bound UDP socket, which takes anyone's datagrams; `connected` a UDP socket connected to one
 * peer, which takes all of that peer's datagrams to its port.
 */
export type SocketState = 'listen' | 'bound' | 'unconnected' | 'connected';

/** A socket that holds a local port: a TCP listener (or bound TCP socket), or a bound UDP socket. */
export interface ProcSocket {
  proto: Proto;
  family: Family;
  /** Canonical text (IPv4 dotted quad; IPv6 compressed, a v4-mapped address as `::ffff:a.b.c.d`). */
  address: string;
  port: number;
  /** The socket's owner: the creator's fsuid. */
  uid: number;
  /** The key that joins the socket to the processes holding it (`socket:[inode]` in /proc/<pid>/fd). */
  inode: number;
  state: SocketState;
  /** The peer of a connected UDP socket. */
  remote?: { address: string; port: number };
  /** IPV6_V6ONLY of an IPv6 socket (sock_diag only; /proc cannot tell). */
  v6only?: boolean;
  /** The cgroup v2 id (the directory's inode) the socket was created in (sock_diag only). */
  cgroupId?: number;
}

export interface ProcNetParse {
  sockets: ProcSocket[];
  /** Lines that were not a socket line (not counting the header). */
  skipped: number;
  /** Listening sockets left out because `maxSockets` was reached. */
  dropped: number;
}

/** /proc/net `st` as the kernel prints it (%02X of include/net/tcp_states.h): TCP_LISTEN. */
const TCP_LISTEN = '0A';
/** A bound UDP socket that is not connected shows TCP_CLOSE; a connected one shows ESTABLISHED. */
const UDP_UNCONNECTED = '07';
const UDP_CONNECTED = '01';

const ADDRESS_PORT = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/;
const HEX_BYTE = /^[0-9A-Fa-f]+$/;

/**
 * `littleEndian`: the kernel prints each 32-bit word of an address as a host-order integer, so on
 * little-endian machines (x86, arm64) the bytes of every word come out reversed.
 */
export function parseProcNet(text: string, proto: Proto, family: Family, maxSockets: number, littleEndian = true): ProcNetParse {
  const sockets: ProcSocket[] = [];
  let skipped = 0;
  let dropped = 0;
  // Most listeners share a handful of addresses (0.0.0.0, ::): each is converted once.
  const addresses = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    // A busy host's table is mostly established connections: skip them before any parsing.
    const st = f[3];
    if (proto === 'tcp' ? st !== TCP_LISTEN : st !== UDP_UNCONNECTED && st !== UDP_CONNECTED) continue;
    const local = ADDRESS_PORT.exec(f[1] ?? '');
    const remote = ADDRESS_PORT.exec(f[2] ?? '');
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(uid) || uid < 0 || !Number.isInteger(inode) || inode < 0) {
      skipped++;
      continue;
    }
    if ((local[1]!.length === 8) !== (family === 4)) {
      skipped++;
      continue;
    }
    // inode 0 is a socket already released by its owner: nobody listens on it.
    if (inode === 0) continue;
    const remotePort = Number.parseInt(remote[2]!, 16);
    const connected = proto === 'udp' && remotePort !== 0;
    if (sockets.length >= maxSockets) {
      dropped++;
      continue;
    }
    let address = addresses.get(local[1]!);
    if (address === undefined) addresses.set(local[1]!, (address = procAddress(local[1]!, littleEndian)));
    const state = proto === 'tcp' ? 'listen' : connected ? 'connected' : 'unconnected';
    sockets.push({ proto, family, address, port: Number.parseInt(local[2]!, 16), uid, inode, state, ...(connected && { remote: { address: procAddress(remote[1]!, littleEndian), port: remotePort } }) });
  }
  return { sockets, skipped, dropped };
}

/** The address as /proc prints it (8 or 32 hex digits, words in host order) in canonical text. */
export function procAddress(hex: string, littleEndian = true): string {
  if (!HEX_BYTE.test(hex) || (hex.length !== 8 && hex.length !== 32)) throw new RangeError(`not a /proc address: ${hex}`);
  const bytes = new Uint8Array(hex.length / 2);
  for (let word = 0; word < bytes.length / 4; word++) {
    for (let b = 0; b < 4; b++) {
      const from = word * 8 + (littleEndian ? 3 - b : b) * 2;
      bytes[word * 4 + b] = Number.parseInt(hex.slice(from, from + 2), 16);
    }
  }
  return bytes.length === 4 ? bytes.join('.') : ipv6Text(bytes, 0);
}
