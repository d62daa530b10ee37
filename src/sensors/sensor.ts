import type { KnockPacket } from '../core/packet.js';

/** Where requests come from. A sensor decodes and bounds-checks; it never decides. */
export interface Sensor {
  readonly name: string;
  start(onPacket: (packet: KnockPacket) => void): Promise<void>;
  stop(): Promise<void>;
  /** Counters an operator can read in status: what was seen, what was malformed. */
  stats(): SensorStats;
}

export interface SensorStats {
  received: number;
  decoded: number;
  malformed: number;
  /** Packets the kernel dropped before the sensor could read them (capture ring full); capture sensors only. */
  kernelDropped?: number;
}
