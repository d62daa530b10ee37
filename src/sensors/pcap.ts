import { availableParallelism } from 'node:os';
import { decodeFrame } from '../core/frame-decoder.js';
import { describeError } from '../core/knockgate-error.js';
import { portCode, TcpFlag, type KnockPacket, type PortSpec } from '../core/packet.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { captureFilter } from './capture-filter.js';
import { ethernetAddress, interfaceExists } from './interfaces.js';
import { CaptureUnavailableError, LibpcapCapture, type CaptureCounters } from './libpcap-capture.js';
import { SensorError, type Sensor, type SensorStats } from './sensor.js';
import type { SpaCaptureScreen } from './spa-capture-screen.js';

export { SensorError };

/**
 * Knock sensor: libpcap handles filtered to the watched destination ports, one per ring and
 * interface. It only observes — it never binds a port, so a knock port answers exactly like any
 * closed port.
 */

/**
 * Kernel capture memory per interface, split evenly across its rings (a header-only ring takes
 * the same number of slots in less: ringBufferBytes): holds what arrives while the event loop is busy. With CAPTURE_SNAPLEN_BYTES 16 MiB has ~8,400 slots (measured on a veth:
 * 8,388 datagrams of a 20,000 burst waited in one such ring), ~60 ms of a 135,000 packets/s
 * flood. Beyond it the kernel drops packets and counts them (status: dropped by the kernel);
 * nothing queues in our memory. Split, not per ring: a ring's pages are resident from the moment
 * it opens, so with a ring per door each door would add its full size to the daemon's RSS.
 */
export const DEFAULT_KERNEL_BUFFER_BYTES = 16 * 1024 * 1024;
/** The least a ring gets of the split, and below this libpcap cannot hold one burst of knocks; above the max a flood only costs memory. */
export const MIN_KERNEL_BUFFER_BYTES = 64 * 1024;
export const MAX_KERNEL_BUFFER_BYTES = 256 * 1024 * 1024;
/**
 * Bytes kept per packet. An SPA datagram fits a 1,500-byte MTU, so with Ethernet, two VLAN tags
 * and IPv6 it stays under 1,600; libpcap sizes each ring slot from this (slot = snaplen + ~80
 * bytes of headers), and at 1,920 two slots share a 4 KiB page. At 2,048 one slot took a page
 * and the 16 MiB ring mapped 31 MiB; at 65,535 (the old binding's fixed value) a slot took
 * 128 KiB and the ring held 256 packets.
 */
export const CAPTURE_SNAPLEN_BYTES = 1_920;
/**
 * Bytes kept per packet in a ring no SPA port shares (knocks, first connections): a door reads
 * only addresses, ports and TCP flags. 256 holds Ethernet with two VLAN tags, an IPv4 header with
 * options and a TCP header with options (142 bytes), or IPv6 with 134 bytes of extension headers
 * and TCP; a packet whose headers run past it is counted malformed ('truncated-…'). libpcap
 * then fits 12 slots in a 4 KiB page instead of 2 (measured: test/pcap-header-ring-holds-as-many-knocks.test.ts).
 */
export const HEADER_SNAPLEN_BYTES = 256;
type RingSnaplen = typeof CAPTURE_SNAPLEN_BYTES | typeof HEADER_SNAPLEN_BYTES;
/** A ring slot's bytes at a snaplen, as libpcap sizes a TPACKET_V2 ring's: the snaplen and 80 bytes of headers (measured: 2 MiB hold 1,048 slots at 1,920). */
function slotBytes(snaplen: RingSnaplen): number {
  return snaplen + 80;
}
/** Frames handed to JS per event-loop turn: a flood cannot starve timers and the control socket. */
export const CAPTURE_BATCH_PACKETS = 64;
/**
 * Rings (handles) per interface at most: each maps a kernel ring of its own, so the doors past
 * this many share the last one.
 */
export const MAX_RINGS_PER_INTERFACE = 8;
/**
 * Reader threads of a ring that holds only message ports (SPA): two where the host has two cores
 * or more (the bench's bad-HMAC flood: `bad_hmac_rejection_2_cores_vs_1_ratio`), none on one core,
 * where a thread would share the event loop's core and add a queue's hop.
 */
export function defaultCaptureThreads(cores = availableParallelism()): number {
  return cores >= 2 ? 2 : 0;
}

/** What the capture watches: knock and SPA ports, and (strict and changing doors) every new connection. */
export interface CaptureSettings {
  ports: PortSpec[];
  newConnections: boolean;
  /**
   * The ports grouped as they get a kernel ring each (the daemon: one group a door, one for SPA),
   * so a flood on one door's ports fills only its own ring and another door's knocks still find
   * room. The event loop serves every ready handle in turn, 64 frames at a time. Absent: one ring
   * for all. Ignored when every new connection is watched (that clause would match in every ring).
   */
  rings?: PortSpec[][];
  /**
   * TCP ports whose new connections (SYN without ACK) are reported: a one-shot grant a Security
   * Group holds is used up at the first. They share the first ring: the group lets only granted
   * sources' SYNs reach the host, so they cannot flood it.
   */
  firstConnectionPorts?: number[];
  /**
   * UDP ports whose every datagram is a whole message (SPA), used by no knock door: a ring that
   * holds only these is read by the capture's threads, since the order of its packets does not
   * matter; every other ring (a knock door's) stays on the event loop, in arrival order.
   */
  messagePorts?: PortSpec[];
  /**
   * Ports whose packets' payload someone reads (SPA): a ring holding none of them keeps headers
   * only (HEADER_SNAPLEN_BYTES), with as many slots as a full ring of its share in a sixth of the
   * memory. Absent: every ring keeps whole packets.
   */
  payloadPorts?: PortSpec[];
}

export interface PcapSensorOptions {
  interfaces: string[];
  ports: PortSpec[];
  /** Also report every new TCP connection and UDP datagram (strict doors need them). */
  newConnections?: boolean;
  logger?: Logger;
  /** Ports grouped by ring, as CaptureSettings.rings. */
  rings?: PortSpec[][];
  /** Kernel capture memory per interface in bytes, split across its rings (each at least MIN_KERNEL_BUFFER_BYTES). */
  bufferBytes?: number;
  /** Reader threads of a message ports' ring (0: the event loop reads it); default defaultCaptureThreads(). */
  captureThreads?: number;
  /** As CaptureSettings.payloadPorts. */
  payloadPorts?: PortSpec[];
}

export interface PcapSensorStats extends SensorStats {
  /**
   * Well-formed but not a watched TCP/UDP port: IPv6 extension-header traffic the filter lets
   * through for userspace to walk.
   */
  ignored: number;
  /** libpcap's ps_drop summed over interfaces and reloads. */
  kernelDropped: number;
  /** Packets the interfaces dropped (ps_ifdrop; Linux counts it only for promiscuous captures). */
  interfaceDropped: number;
  /** ps_drop of each open ring, by interface and the ports it holds (`eth0 tcp/7000,udp/8000`). */
  kernelDroppedByRing: Record<string, number>;
  /** SPA datagrams the addon's screen refused for their HMAC (counted in `received` too, not in `decoded`). */
  screened: number;
}

interface Capture {
  handle: LibpcapCapture;
  /** The frame decoder's link type. */
  linkType: number;
  /** Its place in the sensor's rings. */
  ring: number;
  /** Its reader threads (0: the event loop). */
  threads: number;
  /** Bytes it keeps of a packet: HEADER_SNAPLEN_BYTES in a ring of no payload port. */
  snaplen: RingSnaplen;
}

export class PcapSensor implements Sensor, Reconfigurable<CaptureSettings> {
  readonly name = 'pcap';
  private readonly interfaces: string[];
  private ports: PortSpec[];
  /** Watched ports as portCode numbers: a packet's lookup builds no string. */
  private watched: Set<number>;
  private newConnections: boolean;
  /** The watched ports split into rings: every port in exactly one. */
  private rings: PortSpec[][];
  private firstConnectionPorts: number[] = [];
  /** firstConnectionPorts as portCode numbers. */
  private firstConnections = new Set<number>();
  /** CaptureSettings.messagePorts as portCode numbers. */
  private messagePorts = new Set<number>();
  /** CaptureSettings.payloadPorts as portCode numbers; undefined: every ring keeps payloads. */
  private payloadPorts: Set<number> | undefined;
  private readonly captureThreads: number;
  private readonly logger: Logger | undefined;
  private readonly bufferBytes: number;
  private captures: Capture[] = [];
  private running = false;
  private onPacket: ((packet: KnockPacket) => void) | undefined;
  /** The SPA service's screen, applied to each ring holding its port. */
  private spaScreen: SpaCaptureScreen | undefined;
  private readonly counters = { received: 0, decoded: 0, malformed: 0, ignored: 0, screened: 0 };
  /** Kernel counters of handles already closed (a reload replaces them), so status never goes back. */
  private readonly closedKernelCounters = { dropped: 0, interfaceDropped: 0 };

  constructor(opts: PcapSensorOptions) {
    const bufferBytes = opts.bufferBytes ?? DEFAULT_KERNEL_BUFFER_BYTES;
    if (!Number.isInteger(bufferBytes) || bufferBytes < MIN_KERNEL_BUFFER_BYTES || bufferBytes > MAX_KERNEL_BUFFER_BYTES) {
      throw new RangeError(`bufferBytes ${bufferBytes} is outside ${MIN_KERNEL_BUFFER_BYTES}-${MAX_KERNEL_BUFFER_BYTES}`);
    }
    if (opts.interfaces.length === 0) throw new RangeError('PcapSensor needs at least one interface to capture on');
    this.interfaces = [...new Set(opts.interfaces)];
    this.ports = [...opts.ports];
    this.watched = watchedKeys(this.ports);
    this.newConnections = opts.newConnections ?? false;
    this.rings = ringsOf(this.ports, opts.rings, this.newConnections);
    this.logger = opts.logger;
    this.bufferBytes = bufferBytes;
    this.captureThreads = opts.captureThreads ?? defaultCaptureThreads();
    this.payloadPorts = opts.payloadPorts && watchedKeys(opts.payloadPorts);
  }

  async start(onPacket: (packet: KnockPacket) => void): Promise<void> {
    if (this.running) throw new Error('PcapSensor already started');
    this.captures = this.openAll(this.rings);
    for (const capture of this.captures) this.applyScreen(capture);
    this.onPacket = onPacket;
    this.running = true;
    if (this.captures.length === 0) this.logger?.info({ sensor: this.name }, 'capture idle: no knock or SPA port to watch');
    else this.logger?.info({ sensor: this.name, interfaces: this.interfaces, filter: captureFilter(this.ports, { newConnections: this.newConnections, firstConnectionPorts: this.firstConnectionPorts }), rings: this.rings.length, captureThreads: this.captures.reduce((n, c) => n + c.threads, 0) }, 'capture started');
  }

  /**
   * Swap the watched ports (and whether every new connection is reported) on a running sensor (a reload, or a one-time or time-derived door whose
   * sequence moved on). The open handles get the new filter in place, so nothing is missed while
   * it changes: packets already captured under the old one are matched against the new ports here.
   * A filter that does not compile leaves the old one running and throws. A sensor that had
   * nothing to watch opens its handles now; one left with nothing to watch closes them.
   */
  reconfigure({ ports, newConnections, rings: groups, firstConnectionPorts = [], messagePorts = [], payloadPorts }: CaptureSettings): void {
    captureFilter(ports, { firstConnectionPorts });
    const previous = { messagePorts: this.messagePorts, payloadPorts: this.payloadPorts };
    const restorePorts = () => ({ messagePorts: this.messagePorts, payloadPorts: this.payloadPorts } = previous);
    this.messagePorts = watchedKeys(messagePorts);
    this.payloadPorts = payloadPorts && watchedKeys(payloadPorts);
    const rings = ringsOf(ports, groups, newConnections);
    const firstConnections = new Set(firstConnectionPorts.map((port) => portCode('tcp', port)));
    if (!this.running) {
      this.ports = [...ports];
      this.watched = watchedKeys(this.ports);
      this.newConnections = newConnections;
      this.rings = rings;
      this.firstConnectionPorts = [...firstConnectionPorts];
      this.firstConnections = firstConnections;
      return;
    }
    const idle = ports.length === 0 && !newConnections && firstConnectionPorts.length === 0;
    // The same rings with other ports (a one-time door's next line): new filters in place.
    const sameShape = this.captures.every((c) => c.threads === this.threadsFor(rings, c.ring, newConnections, firstConnectionPorts) && c.snaplen === this.snaplenFor(rings, c.ring));
    if (this.captures.length > 0 && !idle && sameShape && Math.max(1, rings.length) === this.captures.length / this.interfaces.length) {
      const filters = this.captures.map((c) => this.filterFor(c.handle.iface, rings, c.ring, newConnections, firstConnectionPorts));
      const applied: Capture[] = [];
      try {
        this.captures.forEach((c, i) => {
          c.handle.setFilter(filters[i]!);
          applied.push(c);
        });
      } catch (e) {
        for (const c of applied) c.handle.setFilter(this.filterFor(c.handle.iface, this.rings, c.ring, this.newConnections, this.firstConnectionPorts));
        restorePorts();
        throw e;
      }
    } else {
      const previousWatch = { newConnections: this.newConnections, firstConnectionPorts: this.firstConnectionPorts };
      this.newConnections = newConnections;
      this.firstConnectionPorts = [...firstConnectionPorts];
      let next: Capture[];
      try {
        next = this.openAll(rings);
      } catch (e) {
        ({ newConnections: this.newConnections, firstConnectionPorts: this.firstConnectionPorts } = previousWatch);
        restorePorts();
        throw e;
      }
      for (const capture of this.captures) this.close(capture);
      this.captures = next;
    }
    this.ports = [...ports];
    this.watched = watchedKeys(this.ports);
    this.newConnections = newConnections;
    this.rings = rings;
    this.firstConnectionPorts = [...firstConnectionPorts];
    this.firstConnections = firstConnections;
    // A ring may have gained or lost the SPA port.
    for (const capture of this.captures) this.applyScreen(capture);
    this.logger?.debug({ sensor: this.name, filter: captureFilter(this.ports, { newConnections, firstConnectionPorts }) }, 'capture filter replaced');
  }

  /**
   * Lets the addon refuse bad-HMAC SPA datagrams before they reach JavaScript (the SPA service
   * calls it whenever its doors change); undefined hands every packet up again.
   */
  screenSpa(screen: SpaCaptureScreen | undefined): void {
    this.spaScreen = screen;
    for (const capture of this.captures) this.applyScreen(capture);
  }

  async stop(): Promise<void> {
    for (const capture of this.captures) this.close(capture);
    this.captures = [];
    this.onPacket = undefined;
    this.running = false;
  }

  stats(): PcapSensorStats {
    const kernel = { ...this.closedKernelCounters };
    const kernelDroppedBy: Record<string, number> = {};
    const kernelDroppedByRing: Record<string, number> = {};
    for (const capture of this.captures) {
      const counters = this.kernelCounters(capture);
      const iface = capture.handle.iface;
      kernel.dropped += counters.dropped;
      kernel.interfaceDropped += counters.interfaceDropped;
      kernelDroppedBy[iface] = (kernelDroppedBy[iface] ?? 0) + counters.dropped;
      kernelDroppedByRing[`${iface} ${(this.rings[capture.ring] ?? []).map((p) => `${p.proto}/${p.port}`).join(',') || 'new-connections'}`] = counters.dropped;
    }
    return { ...this.counters, kernelDropped: kernel.dropped, kernelDroppedBy, kernelDroppedByRing, interfaceDropped: kernel.interfaceDropped };
  }

  /** The screen on a ring whose ports hold the SPA port; off on every other. */
  private applyScreen(capture: Capture): void {
    const screen = this.spaScreen;
    const held = screen !== undefined && (this.rings[capture.ring] ?? []).some((p) => p.proto === 'udp' && p.port === screen.port);
    try {
      capture.handle.screenSpa(held ? screen : undefined);
    } catch (e) {
      // A screen the addon does not take (not its own HmacScreen): JavaScript checks every packet, as before.
      capture.handle.screenSpa(undefined);
      this.logger?.warn({ sensor: this.name, iface: capture.handle.iface, err: describeError(e) }, 'SPA screen not applied in the capture');
    }
  }

  private kernelCounters(capture: Capture): CaptureCounters {
    try {
      return capture.handle.counters();
    } catch (e) {
      // Status must answer even when one handle cannot: its drops are then unknown, not fatal.
      this.logger?.warn({ sensor: this.name, iface: capture.handle.iface, err: describeError(e) }, 'capture counters unreadable');
      return { received: 0, dropped: 0, interfaceDropped: 0 };
    }
  }

  private close(capture: Capture): void {
    const counters = this.kernelCounters(capture);
    this.closedKernelCounters.dropped += counters.dropped;
    this.closedKernelCounters.interfaceDropped += counters.interfaceDropped;
    capture.handle.close();
  }

  /** No ports to watch (a guard-only or kernel-only config): no capture at all rather than one that matches nothing. */
  private openAll(rings: PortSpec[][]): Capture[] {
    if (rings.length === 0 && !this.newConnections && this.firstConnectionPorts.length === 0) return [];
    const opened: Capture[] = [];
    try {
      for (const iface of this.interfaces) for (let ring = 0; ring < Math.max(1, rings.length); ring++) opened.push(this.open(iface, rings, ring));
      return opened;
    } catch (e) {
      for (const capture of opened) capture.handle.close();
      throw e;
    }
  }

  private open(iface: string, rings: PortSpec[][], ring: number): Capture {
    if (!interfaceExists(iface)) {
      throw new SensorError(iface, 'no such interface', 'check the name with `ip link` in this network namespace');
    }
    const filter = this.filterFor(iface, rings, ring, this.newConnections, this.firstConnectionPorts);
    const threads = this.threadsFor(rings, ring, this.newConnections, this.firstConnectionPorts);
    const snaplen = this.snaplenFor(rings, ring);
    let handle: LibpcapCapture;
    try {
      handle = new LibpcapCapture({
        iface,
        filter,
        snaplen,
        bufferBytes: ringBufferBytes(this.bufferBytes, Math.max(1, rings.length), snaplen),
        batchPackets: CAPTURE_BATCH_PACKETS,
        threads,
        // `capture` is set below, before any batch can arrive: batches come from the event loop.
        onFrame: (frame, timeMs, truncated, badHmac) => this.onFrame(capture, frame, timeMs, truncated, badHmac),
        onRefused: (count) => this.onRefused(count),
        onError: (err) => this.logger?.error({ sensor: this.name, iface, err: describeError(err) }, 'capture failed'),
      });
    } catch (e) {
      if (e instanceof CaptureUnavailableError) throw e;
      throw new SensorError(iface, (e as Error).message, 'capturing needs root or CAP_NET_RAW, and the interface must exist');
    }
    const linkType = handle.linkType;
    if (linkType === undefined) {
      handle.close();
      throw new SensorError(iface, `link type ${handle.linkName} is not supported`, 'capture on an Ethernet, cooked, raw-IP or loopback interface');
    }
    const capture: Capture = { handle, linkType, ring, threads, snaplen };
    return capture;
  }

  /** Ring `ring`'s snaplen: headers only when the sensor knows which ports carry payloads and the ring holds none. */
  private snaplenFor(rings: PortSpec[][], ring: number): RingSnaplen {
    const payloads = this.payloadPorts;
    const needsPayload = payloads === undefined || (rings[ring] ?? []).some((p) => payloads.has(portCode(p.proto, p.port)));
    return needsPayload ? CAPTURE_SNAPLEN_BYTES : HEADER_SNAPLEN_BYTES;
  }

  /**
   * Ring `ring`'s reader threads: only for a ring of message ports alone. Not the first ring when
   * it also takes one-shot ports' first connections, nor with every new connection watched (then
   * one ring holds the knocks too).
   */
  private threadsFor(rings: PortSpec[][], ring: number, newConnections: boolean, firstConnectionPorts: number[]): number {
    const ports = rings[ring] ?? [];
    const messagesOnly = ports.length > 0 && ports.every((p) => this.messagePorts.has(portCode(p.proto, p.port)));
    return messagesOnly && !newConnections && !(ring === 0 && firstConnectionPorts.length > 0) ? this.captureThreads : 0;
  }

  /** Ring `ring`'s filter; only the first ring takes the IPv6 extension-header packets and the first connections. */
  private filterFor(iface: string, rings: PortSpec[][], ring: number, newConnections: boolean, firstConnectionPorts: number[]): string {
    const station = ethernetAddress(iface);
    return captureFilter(rings[ring] ?? [], { newConnections, extensionHeaders: ring === 0, ...(ring === 0 && { firstConnectionPorts }), ...(station === undefined ? {} : { stationAddress: station }) });
  }

  private onRefused(count: number): void {
    this.counters.received += count;
    this.counters.screened += count;
    this.spaScreen?.refusedUnseen(count);
  }

  private onFrame(capture: Capture, frame: Uint8Array, timeMs: number, truncated: boolean, badHmac: boolean): void {
    this.counters.received++;
    // A header-only ring cuts every longer packet on purpose: the decoder reads its headers.
    const cut = truncated && capture.snaplen === HEADER_SNAPLEN_BYTES;
    if (truncated && !cut) {
      this.counters.malformed++;
      this.logger?.debug({ sensor: this.name, iface: capture.handle.iface, reason: 'truncated-capture', bytes: frame.length }, 'malformed frame');
      return;
    }
    const result = decodeFrame(capture.linkType, frame, timeMs, capture.handle.iface, cut);
    if (!result.ok && result.reason === 'not-tcp-udp') {
      // ICMPv6 behind a hop-by-hop header (MLD) passes the extension-header clause: not ours, not broken.
      this.counters.ignored++;
      return;
    }
    if (!result.ok) {
      this.counters.malformed++;
      this.logger?.debug({ sensor: this.name, iface: capture.handle.iface, reason: result.reason, bytes: frame.length }, 'malformed frame');
      return;
    }
    const packet = result.packet;
    if (badHmac && this.spaScreen) {
      this.counters.screened++;
      this.spaScreen.refused(packet);
      return;
    }
    const code = portCode(packet.proto, packet.dstPort);
    if (!this.watched.has(code) && !((this.newConnections || this.firstConnections.has(code)) && isNewConnection(packet))) {
      this.counters.ignored++;
      return;
    }
    this.counters.decoded++;
    try {
      this.onPacket?.(packet);
    } catch (e) {
      // Caught here so the log says whose fault it was; the rest of the batch still goes through.
      this.logger?.error({ sensor: this.name, iface: capture.handle.iface, err: describeError(e) }, 'packet handler threw');
    }
  }
}

/**
 * One ring's share of an interface's capture memory: whole pages, and at least the minimum a ring
 * needs. The share is counted in full-size slots: a header-only ring gets as many slots, in the
 * pages they take at its snaplen.
 */
export function ringBufferBytes(interfaceBytes: number, rings: number, snaplen: RingSnaplen = CAPTURE_SNAPLEN_BYTES): number {
  const page = 4_096;
  const share = Math.floor(interfaceBytes / rings / page) * page;
  if (snaplen === CAPTURE_SNAPLEN_BYTES) return Math.max(MIN_KERNEL_BUFFER_BYTES, share);
  const slots = Math.floor(share / slotBytes(CAPTURE_SNAPLEN_BYTES));
  const perPage = Math.floor(page / slotBytes(snaplen));
  // One page more: libpcap keeps whole pages of slots, and the kernel holds one slot back.
  return Math.max(MIN_KERNEL_BUFFER_BYTES, (Math.ceil(slots / perPage) + 1) * page);
}

function isNewConnection(p: KnockPacket): boolean {
  return p.proto === 'udp' || (p.tcpFlags & (TcpFlag.syn | TcpFlag.ack)) === TcpFlag.syn;
}

/**
 * The watched ports as rings: each group's ports not already in an earlier ring, empty groups
 * dropped, groups past MAX_RINGS_PER_INTERFACE merged into the last, ports in no group in a ring of
 * their own. One ring for everything when every new connection is watched, or no groups are given.
 */
export function ringsOf(ports: PortSpec[], groups: PortSpec[][] | undefined, newConnections: boolean): PortSpec[][] {
  const watched = watchedKeys(ports);
  if (!groups || newConnections) return ports.length > 0 ? [dedupe(ports)] : [];
  const placed = new Set<number>();
  const rings: PortSpec[][] = [];
  for (const group of [...groups, ports]) {
    const ring = dedupe(group).filter((p) => watched.has(portCode(p.proto, p.port)) && !placed.has(portCode(p.proto, p.port)));
    for (const p of ring) placed.add(portCode(p.proto, p.port));
    if (ring.length === 0) continue;
    if (rings.length < MAX_RINGS_PER_INTERFACE) rings.push(ring);
    else rings[rings.length - 1]!.push(...ring);
  }
  return rings;
}

function dedupe(ports: PortSpec[]): PortSpec[] {
  const seen = new Map<number, PortSpec>();
  for (const p of ports) seen.set(portCode(p.proto, p.port), { proto: p.proto, port: p.port });
  return [...seen.values()];
}

function watchedKeys(ports: PortSpec[]): Set<number> {
  return new Set(ports.map((p) => portCode(p.proto, p.port)));
}
