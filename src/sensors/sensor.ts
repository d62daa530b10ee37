import { KnockgateError } from '../core/knockgate-error.js';
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
  /** The same by interface, for the captures open now, each since it opened; capture sensors only. */
  kernelDroppedBy?: Record<string, number>;
  /** SPA datagrams the capture refused for their HMAC before decoding them (counted in received); capture sensors only. */
  screened?: number;
}

/** An interface a sensor cannot listen on, with what the operator can do about it. */
export class SensorError extends KnockgateError {
  override readonly name = 'SensorError';
  readonly code = 'sensor.capture';
  constructor(
    readonly iface: string,
    readonly reason: string,
    readonly hint: string,
  ) {
    super(`cannot capture on ${iface}: ${reason} (${hint})`, { nextStep: hint });
  }
}
