import { createRequire } from 'node:module';
import type { NetDiag } from 'knockgate-capture';
import { ipv6Text } from '../core/frame-decoder.js';
import type { Family, Proto } from '../core/packet.js';
import type { ProcSocket, SocketState } from './proc-net-sockets.js';

/**
 * The sockets that hold a port, from the kernel's sock_diag (inet_diag) dump through our addon
 * (native/capture/src/netdiag.c): what /proc/net shows, plus IPV6_V6ONLY, the cgroup a socket
 * was created in, and TCP sockets bound without listening (Linux 6.5+).
 */

/** The addon's record size and field offsets (netdiag.c's layout). */
const RECORD_BYTES = 64;
const IPPROTO = { tcp: 6, udp: 17 } as const;
/** include/net/tcp_states.h. A bound-inactive socket is asked for with its own bit and reported as TCP_CLOSE. */
const TCP_ESTABLISHED = 1;
const TCP_CLOSE = 7;
const TCP_LISTEN = 10;
const TCP_BOUND_INACTIVE = 13;
/**
 * Bound-only sockets are dumped by walking the host's whole TCP bind table, whatever the
 * namespace (measured: ~2 ms per family and namespace here, against 0.1 ms for the listeners).
 */
const TCP_LISTEN_STATES = 1 << TCP_LISTEN;
const TCP_BOUND_STATES = 1 << TCP_BOUND_INACTIVE;
const UDP_STATES = (1 << TCP_CLOSE) | (1 << TCP_ESTABLISHED);
const V6ONLY_UNKNOWN = 255;

const require = createRequire(import.meta.url);
let addon: NetDiag | undefined;

/** The addon's sock_diag and frame sender; throws when it is not built. */
export function netDiag(): NetDiag {
  addon ??= (require('knockgate-capture') as typeof import('knockgate-capture')).netdiag;
  return addon;
}

export interface SockDiagDump {
  sockets: ProcSocket[];
  /** Sockets past `maxSockets`. */
  dropped: number;
}

/**
 * Every TCP listener (and, with `bound`, every TCP socket bound without listening) and every
 * bound UDP socket, of the namespace of the open `netnsFd` (-1: ours). Throws when sock_diag is
 * unavailable (no addon, an old kernel).
 */
export function dumpSocketsByDiag(netnsFd: number, maxSockets: number, bound = true): SockDiagDump {
  const diag = netDiag();
  const sockets: ProcSocket[] = [];
  let dropped = 0;
  for (const proto of ['tcp', 'udp'] as const) {
    for (const family of [4, 6] as const) {
      const states = proto === 'udp' ? UDP_STATES : TCP_LISTEN_STATES | (bound ? TCP_BOUND_STATES : 0);
      const records = diag.dumpSockets(IPPROTO[proto], family, states, netnsFd, Math.max(0, maxSockets - sockets.length));
      dropped += records.dropped;
      sockets.push(...parseDiagRecords(records, proto, family));
    }
  }
  return { sockets, dropped };
}

/** The addon's packed records as sockets. Pure; a record of another family or state is skipped. */
export function parseDiagRecords(records: Uint8Array, proto: Proto, family: Family): ProcSocket[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const out: ProcSocket[] = [];
  const addresses = new Map<string, string>();
  const text = (at: number) => {
    const key = Buffer.from(records.buffer, records.byteOffset + at, family === 4 ? 4 : 16).toString('hex');
    let t = addresses.get(key);
    if (t === undefined) addresses.set(key, (t = family === 4 ? [0, 1, 2, 3].map((i) => records[at + i]).join('.') : ipv6Text(records, at)));
    return t;
  };
  for (let at = 0; at + RECORD_BYTES <= records.byteLength; at += RECORD_BYTES) {
    if (records[at] !== family) continue;
    const state = stateOf(proto, records[at + 1]!);
    const inode = view.getUint32(at + 12, true);
    // inode 0 is a socket its owner already released: nothing holds it.
    if (state === undefined || inode === 0) continue;
    const remotePort = view.getUint16(at + 6, true);
    const v6only = records[at + 2]!;
    const cgroupId = Number(view.getBigUint64(at + 24, true));
    out.push({
      proto,
      family,
      address: text(at + 32),
      port: view.getUint16(at + 4, true),
      uid: view.getUint32(at + 8, true),
      inode,
      state,
      ...(state === 'connected' && { remote: { address: text(at + 48), port: remotePort } }),
      ...(family === 6 && v6only !== V6ONLY_UNKNOWN && { v6only: v6only === 1 }),
      ...(cgroupId > 0 && { cgroupId }),
    });
  }
  return out;
}

function stateOf(proto: Proto, state: number): SocketState | undefined {
  if (proto === 'tcp') return state === TCP_LISTEN ? 'listen' : state === TCP_CLOSE ? 'bound' : undefined;
  return state === TCP_CLOSE ? 'unconnected' : state === TCP_ESTABLISHED ? 'connected' : undefined;
}
