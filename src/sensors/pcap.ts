import { createRequire } from 'node:module';
import { decodeFrame, linkTypeNumber } from '../core/frame-decoder.js';
import { TcpFlag, type KnockPacket, type PortSpec } from '../core/packet.js';
import type { Logger } from '../log/logger.js';
import { captureFilter } from './capture-filter.js';
import { ethernetAddress, interfaceExists } from './interfaces.js';
import type { Sensor, SensorStats } from './sensor.js';

/**
 * Knock sensor: one libpcap handle per interface, filtered to the watched destination ports.
 * It only observes — it never binds a port, so a knock port answers exactly like any closed port.
 */

/**
 * Kernel capture buffer per interface: holds what arrives while the event loop is busy. In the
 * lab a 10,000-SYN burst (hping3 --faster) lost 6% at 1 MiB, 2.5% at 4 MiB and nothing at
 * 16 MiB. Beyond it the kernel drops packets; nothing queues in our memory.
 */
export const DEFAULT_KERNEL_BUFFER_BYTES = 16 * 1024 * 1024;
/** Below this libpcap cannot hold one burst of knocks; above it a flood only costs memory. */
export const MIN_KERNEL_BUFFER_BYTES = 64 * 1024;
export const MAX_KERNEL_BUFFER_BYTES = 256 * 1024 * 1024;
/**
 * cap captures with a fixed 65,535-byte snaplen and copies each frame into a buffer of this
 * size; an SPA datagram (~1,500 bytes) always fits, and so does anything an IPv4 header can
 * describe, so only GRO super-frames are ever cut short.
 */
export const FRAME_BUFFER_BYTES = 65_535;

/** An interface a sensor cannot listen on, with what the operator can do about it. */
export class SensorError extends Error {
  override readonly name = 'SensorError';
  constructor(
    readonly iface: string,
    readonly reason: string,
    readonly hint: string,
  ) {
    super(`cannot capture on ${iface}: ${reason} (${hint})`);
  }
}

export interface PcapSensorOptions {
  interfaces: string[];
  ports: PortSpec[];
  /** Also report every new TCP connection and UDP datagram (strict doors need them). */
  newConnections?: boolean;
  logger?: Logger;
  /** Kernel capture buffer per interface, in bytes. */
  bufferBytes?: number;
  /** Capture time source in ms since the epoch; cap does not hand out libpcap's timestamps. */
  clock?: () => number;
}

export interface PcapSensorStats extends SensorStats {
  /**
   * Well-formed but not a watched TCP/UDP port: IPv6 extension-header traffic the filter lets
   * through for userspace to walk.
   */
  ignored: number;
}

/** The part of cap's Cap class this sensor uses. */
interface CapHandle {
  open(device: string, filter: string, bufferBytes: number, frame: Buffer): string;
  close(): boolean;
  on(event: 'packet', listener: (bytes: number, truncated: boolean) => void): unknown;
}

interface Capture {
  iface: string;
  handle: CapHandle;
  linkType: number;
  frame: Buffer;
}

const require = createRequire(import.meta.url);
const EMPTY_PAYLOAD = new Uint8Array(0);

export class PcapSensor implements Sensor {
  readonly name = 'pcap';
  private readonly interfaces: string[];
  private ports: PortSpec[];
  private watched: Set<string>;
  private newConnections: boolean;
  private readonly logger: Logger | undefined;
  private readonly bufferBytes: number;
  private readonly clock: () => number;
  private captures: Capture[] = [];
  private running = false;
  private onPacket: ((packet: KnockPacket) => void) | undefined;
  private readonly counters: PcapSensorStats = { received: 0, decoded: 0, malformed: 0, ignored: 0 };

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
    this.logger = opts.logger;
    this.bufferBytes = bufferBytes;
    this.clock = opts.clock ?? Date.now;
  }

  async start(onPacket: (packet: KnockPacket) => void): Promise<void> {
    if (this.running) throw new Error('PcapSensor already started');
    this.captures = this.openAll(this.ports);
    this.onPacket = onPacket;
    this.running = true;
    if (this.captures.length === 0) this.logger?.info({ sensor: this.name }, 'capture idle: no knock or SPA port to watch');
    else this.logger?.info({ sensor: this.name, interfaces: this.interfaces, filter: captureFilter(this.ports) }, 'capture started');
  }

  /**
   * Swap the watched ports on a running sensor (config reload). New handles open before the old
   * ones close, in one event-loop turn, so no packet is reported twice (packets the old handle
   * had queued but not yet delivered are dropped with it); a filter that fails to open leaves
   * the old one running and throws.
   */
  setPorts(ports: PortSpec[], newConnections = this.newConnections): void {
    captureFilter(ports);
    if (!this.running) {
      this.ports = [...ports];
      this.watched = watchedKeys(this.ports);
      this.newConnections = newConnections;
      return;
    }
    const previous = this.newConnections;
    this.newConnections = newConnections;
    let next: Capture[];
    try {
      next = this.openAll(ports);
    } catch (e) {
      this.newConnections = previous;
      throw e;
    }
    const old = this.captures;
    this.captures = next;
    this.ports = [...ports];
    this.watched = watchedKeys(this.ports);
    for (const capture of old) capture.handle.close();
    this.logger?.info({ sensor: this.name, filter: captureFilter(this.ports) }, 'capture filter replaced');
  }

  async stop(): Promise<void> {
    for (const capture of this.captures) capture.handle.close();
    this.captures = [];
    this.onPacket = undefined;
    this.running = false;
  }

  stats(): PcapSensorStats {
    return { ...this.counters };
  }

  /** No ports to watch (a guard-only or kernel-only config): no capture at all rather than one that matches nothing. */
  private openAll(ports: PortSpec[]): Capture[] {
    if (ports.length === 0 && !this.newConnections) return [];
    const opened: Capture[] = [];
    try {
      for (const iface of this.interfaces) opened.push(this.open(iface, ports));
      return opened;
    } catch (e) {
      for (const capture of opened) capture.handle.close();
      throw e;
    }
  }

  private open(iface: string, ports: PortSpec[]): Capture {
    if (!interfaceExists(iface)) {
      throw new SensorError(iface, 'no such interface', 'check the name with `ip link` in this network namespace');
    }
    const station = ethernetAddress(iface);
    const filter = captureFilter(ports, { newConnections: this.newConnections, ...(station === undefined ? {} : { stationAddress: station }) });
    const { Cap } = require('cap') as { Cap: new () => CapHandle };
    // A fresh Cap per open: cap's close() leaves a flag set that makes a reopened handle close itself.
    const handle = new Cap();
    const frame = Buffer.alloc(FRAME_BUFFER_BYTES);
    let linkName: string;
    try {
      linkName = handle.open(iface, filter, this.bufferBytes, frame);
    } catch (e) {
      handle.close();
      throw new SensorError(iface, (e as Error).message, 'capturing needs root or CAP_NET_RAW, and the interface must exist');
    }
    const linkType = linkTypeNumber(linkName) ?? linkTypeNumber(Number(/^Unknown linktype (\d+)$/.exec(linkName)?.[1]));
    if (linkType === undefined) {
      handle.close();
      throw new SensorError(iface, `link type ${linkName} is not supported`, 'capture on an Ethernet, cooked, raw-IP or loopback interface');
    }
    const capture: Capture = { iface, handle, linkType, frame };
    handle.on('packet', (bytes, truncated) => this.onFrame(capture, bytes, truncated));
    return capture;
  }

  private onFrame(capture: Capture, bytes: number, truncated: boolean): void {
    this.counters.received++;
    if (truncated) {
      this.counters.malformed++;
      this.logger?.debug({ sensor: this.name, iface: capture.iface, reason: 'truncated-capture', bytes }, 'malformed frame');
      return;
    }
    const result = decodeFrame(capture.linkType, capture.frame.subarray(0, bytes), this.clock(), capture.iface);
    if (!result.ok && result.reason === 'not-tcp-udp') {
      // ICMPv6 behind a hop-by-hop header (MLD) passes the extension-header clause: not ours, not broken.
      this.counters.ignored++;
      return;
    }
    if (!result.ok) {
      this.counters.malformed++;
      this.logger?.debug({ sensor: this.name, iface: capture.iface, reason: result.reason, bytes }, 'malformed frame');
      return;
    }
    const decoded = result.packet;
    if (!this.watched.has(`${decoded.proto}/${decoded.dstPort}`) && !(this.newConnections && isNewConnection(decoded))) {
      this.counters.ignored++;
      return;
    }
    this.counters.decoded++;
    // The frame buffer is reused for the next packet; the payload must outlive it.
    const packet: KnockPacket = { ...decoded, payload: decoded.payload.length === 0 ? EMPTY_PAYLOAD : decoded.payload.slice() };
    try {
      this.onPacket?.(packet);
    } catch (e) {
      // An exception here would unwind into libpcap's dispatch loop and kill the daemon.
      this.logger?.error({ sensor: this.name, iface: capture.iface, err: e }, 'packet handler threw');
    }
  }
}

function isNewConnection(p: KnockPacket): boolean {
  return p.proto === 'udp' || (p.tcpFlags & (TcpFlag.syn | TcpFlag.ack)) === TcpFlag.syn;
}

function watchedKeys(ports: PortSpec[]): Set<string> {
  return new Set(ports.map((p) => `${p.proto}/${p.port}`));
}
