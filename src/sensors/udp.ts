import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { KnockPacket } from '../core/packet.js';
import type { Logger } from '../log/logger.js';
import type { Sensor, SensorStats } from './sensor.js';

/**
 * Largest datagram handed on: fwknopd's MAX_SNIFF_BYTES. Anything larger is not SPA, is counted
 * as malformed and dropped without being copied.
 */
export const MAX_UDP_DATAGRAM_BYTES = 1_500;
/**
 * Kernel receive buffer: what waits while the event loop is busy (~2,700 full-size SPA packets).
 * Beyond it the kernel drops datagrams; nothing queues in our memory.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface UdpSensorOptions {
  port: number;
  /** Address to bind; default `::` (IPv6 and, where the host allows, IPv4 too) with a 0.0.0.0 fallback. */
  bind?: string;
  logger?: Logger;
  clock?: () => number;
}

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * SPA sensor for hosts where capture is not wanted (fwknopd's ENABLE_UDP_SERVER): a UDP socket on
 * the SPA port. The socket is bound exclusively, never with SO_REUSEADDR/SO_REUSEPORT, so another
 * local user cannot bind the same port and take a share of the datagrams.
 */
export class UdpSensor implements Sensor {
  readonly name = 'udp';
  private socket: Socket | undefined;
  private readonly counters: SensorStats = { received: 0, decoded: 0, malformed: 0 };
  private readonly clock: () => number;
  private localAddress = '';

  constructor(private readonly opts: UdpSensorOptions) {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65_535) throw new RangeError(`UDP port ${opts.port} is outside 1-65535`);
    if (opts.bind !== undefined && isIP(opts.bind) === 0) throw new RangeError(`bind address ${opts.bind} is not an IP address`);
    this.clock = opts.clock ?? Date.now;
  }

  async start(onPacket: (packet: KnockPacket) => void): Promise<void> {
    if (this.socket) throw new Error('UdpSensor already started');
    const bind = this.opts.bind;
    try {
      this.socket = await this.bind(bind ?? '::', onPacket);
    } catch (err) {
      // A host without IPv6 cannot bind ::; the IPv4 wildcard still serves it.
      if (bind !== undefined || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
      this.socket = await this.bind('0.0.0.0', onPacket);
    }
    this.localAddress = this.socket.address().address;
    this.opts.logger?.info({ sensor: this.name, address: this.localAddress, port: this.opts.port }, 'UDP sensor listening');
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  stats(): SensorStats {
    return { ...this.counters };
  }

  private bind(address: string, onPacket: (packet: KnockPacket) => void): Promise<Socket> {
    const family = isIP(address) === 6 ? 'udp6' : 'udp4';
    const socket = createSocket({ type: family, reuseAddr: false, ipv6Only: false, recvBufferSize: UDP_RECEIVE_BUFFER_BYTES });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address, port: this.opts.port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.opts.logger?.warn({ sensor: this.name, err: err.message }, 'UDP sensor socket error'));
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo, onPacket));
        resolve(socket);
      });
    });
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo, onPacket: (packet: KnockPacket) => void): void {
    this.counters.received++;
    if (msg.length > MAX_UDP_DATAGRAM_BYTES) {
      this.counters.malformed++;
      return;
    }
    const mapped = MAPPED_V4.exec(rinfo.address);
    const src = mapped?.[1] ?? rinfo.address;
    const family = isIP(src) === 4 ? 4 : 6;
    this.counters.decoded++;
    onPacket({
      family,
      src,
      dst: this.localAddress,
      proto: 'udp',
      srcPort: rinfo.port,
      dstPort: this.opts.port,
      tcpFlags: 0,
      payload: msg,
      time: this.clock(),
      iface: 'udp-socket',
    });
  }
}
