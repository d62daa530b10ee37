import type { KnockPacket, PortSpec } from '../../src/core/packet.js';
import type { Reconfigurable } from '../../src/core/reconfigurable.js';
import type { CaptureSettings } from '../../src/sensors/pcap.js';
import type { Sensor, SensorStats } from '../../src/sensors/sensor.js';

/** The bastion address the in-memory daemon counts as its own. */
export const FAKE_HOST = '10.200.0.1';

export type PacketFields = Partial<KnockPacket> & { src: string; dstPort: number };

/**
 * An in-memory Sensor: the test hands it typed packets, and it passes each to the daemon as the
 * pcap sensor would after decoding a frame (a SYN for TCP, a datagram for UDP). It keeps the
 * ports and connection mode the daemon last configured, so a test can check what a real capture
 * filter would have been asked to watch.
 */
export class FakeSensor implements Sensor, Reconfigurable<CaptureSettings> {
  readonly name = 'fake';
  private onPacket: ((packet: KnockPacket) => void) | undefined;
  private received = 0;
  /** What the daemon last asked the capture to watch (its doors at start, after a reload, when a sequence moves on). */
  watching: CaptureSettings | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  async start(onPacket: (packet: KnockPacket) => void): Promise<void> {
    this.onPacket = onPacket;
  }

  async stop(): Promise<void> {
    this.onPacket = undefined;
  }

  reconfigure(next: CaptureSettings): void {
    this.watching = next;
  }

  stats(): SensorStats {
    return { received: this.received, decoded: this.received, malformed: 0 };
  }

  /** One packet; throws if the daemon has not started the sensor (a test that forgot to start it fails loudly). */
  emit(fields: PacketFields): void {
    if (!this.onPacket) throw new Error('FakeSensor: not started');
    this.received += 1;
    const proto = fields.proto ?? 'tcp';
    this.onPacket({
      family: fields.src.includes(':') ? 6 : 4,
      dst: FAKE_HOST,
      proto,
      srcPort: 40_000,
      tcpFlags: proto === 'tcp' ? 0x02 : 0,
      payload: new Uint8Array(0),
      time: this.now(),
      iface: 'fake0',
      ...fields,
    });
  }

  /** A knock: one packet to each port in order, from `src`. */
  knock(src: string, steps: readonly PortSpec[]): void {
    for (const step of steps) this.emit({ src, proto: step.proto, dstPort: step.port });
  }
}
