/** Kernel counters of one capture since it opened (libpcap's pcap_stats). */
export interface CaptureCounters {
  /** Packets that passed the filter, including those dropped (ps_recv). */
  received: number;
  /** Packets that passed the filter but found the ring full (ps_drop). */
  dropped: number;
  /** Packets the interface dropped (ps_ifdrop; Linux fills it only for promiscuous captures). */
  interfaceDropped: number;
  /** Of `dropped`, those a reader thread found the queue to the event loop full for (0 without threads). */
  queueDropped?: number;
}

/** An SPA door as the capture's screen takes it, in the order of the screen's keys. */
export interface ScreenedSpaDoor {
  /** Packet lengths the door's codec tries (lengthRefusal lets through). */
  minLength: number;
  maxLength: number;
  /** Epoch second past which the door is expired; -1 never. */
  expiresAt: number;
}

/**
 * One live libpcap capture (non-promiscuous, immediate mode). Each batch is written into `batch`
 * as records of 20 bytes (little-endian uint32 seconds, microseconds, captured length, length on
 * the wire, verdict: 0 handed up, 1 refused by the SPA screen and handed up as a sample) followed
 * by the captured bytes; `onBatch` gets how many records and bytes it holds, and how many packets
 * the screen refused beside them without handing them up. A ring busier than ~2,000 readinesses a
 * second is read every millisecond while it stays busy (src/capture.c).
 * Open until close(); throws an Error with libpcap's message when it cannot open.
 */
export class Capture {
  constructor(
    device: string,
    filter: string,
    snaplen: number,
    bufferBytes: number,
    batch: Buffer,
    onBatch: (error: Error | null, count: number, bytes: number, refused: number) => void,
    /**
     * Reader threads, 0..8 (default 0: the event loop reads the ring): that many handles joined
     * in a PACKET_FANOUT_LB group, each read (and screened) in its own thread; what they hand up
     * waits in a queue of 4 batches, and a packet that finds it full is counted in `dropped`.
     * `bufferBytes` is split across the handles.
     */
    threads?: number,
  );
  /** pcap_datalink(): the DLT number. */
  readonly linkType: number;
  /** pcap_datalink_val_to_name(), null for a type libpcap has no name for. */
  readonly linkTypeName: string | null;
  stats(): CaptureCounters;
  setFilter(filter: string): void;
  /**
   * Checks each datagram to UDP `port` against `screen`'s keys before handing it up: one whose
   * text, length and door's expiry would reach the HMAC and that no key made is refused (64 a
   * second handed up as samples with verdict 1, the rest counted in onBatch's `refused`, within
   * 100 ms, by a batch of no records if none comes). `screenSpa(null)` hands every packet up again.
   */
  screenSpa(port: number, screen: HmacScreen, doors: ScreenedSpaDoor[]): void;
  screenSpa(none: null): void;
  /** Stops delivery at once; idempotent. */
  close(): void;
}

/** The guard's kernel socket facts and link-layer sender (src/netdiag.c). */
export interface NetDiag {
  /**
   * One inet_diag dump: TCP (6) or UDP (17) sockets of `family` whose state bit is in `states`,
   * in the namespace of the open `netnsFd` (-1: our own). 64-byte records; `dropped` counts those
   * past `maxRecords`. Throws an Error with `errno` when the kernel refuses.
   */
  dumpSockets(protocol: 6 | 17, family: 4 | 6, states: number, netnsFd: number, maxRecords: number): Buffer & { dropped: number };
  /** nftables' ruleset generation in the namespace of `netnsFd` (-1: our own); every committed change bumps it. */
  nftGeneration(netnsFd: number): number;
  /** Sends one Ethernet frame (14..1514 bytes) out of `ifname` in the namespace of `netnsFd`; returns the bytes sent. */
  sendFrame(ifname: string, frame: Buffer, netnsFd: number): number;
}
export const netdiag: NetDiag;

/** One access.conf key as the HMAC screen takes it. */
export interface HmacScreenKey {
  /** OpenSSL's digest name: "sha256", "sha3-512", ... */
  digest: string;
  key: Buffer;
  /** Length of the MAC on the wire, as unpadded base64. */
  macChars: number;
}

/**
 * Which of an SPA server's keys made a packet's MAC (src/spa-hmac.c): each key's HMAC keyed once,
 * each packet checked against the keys in C, the MAC compared as text in constant time.
 */
export class HmacScreen {
  /** At most 4,096 keys; `prefix` (at most 64 bytes) is hashed before each packet's bytes. */
  constructor(keys: HmacScreenKey[], prefix: Buffer);
  /** Index of the first key at or after `from` whose HMAC is the packet's MAC, or -1. */
  firstMatch(packet: Buffer, from: number): number;
}
