import { createRequire } from 'node:module';
import { decodeArpFrame, linkTypeNumber, type ArpPacket } from '../core/frame-decoder.js';
import type { Logger } from '../log/logger.js';
import { interfaceExists } from '../sensors/interfaces.js';

/**
 * Passive ARP capture for the ARP watch: one libpcap handle per interface with the filter `arp`.
 * It sees gratuitous ARP and replies the moment they arrive, before (or without) the kernel
 * taking them into its neighbour table.
 */

/** ARP is 42-byte frames at a few per second; 1 MiB holds any burst a spoofer sends. */
export const ARP_KERNEL_BUFFER_BYTES = 1024 * 1024;
/** Ethernet + two VLAN tags + ARP fit well within this; cap copies each frame into the buffer. */
const FRAME_BYTES = 256;

interface CapHandle {
  open(device: string, filter: string, bufferBytes: number, frame: Buffer): string;
  close(): boolean;
  on(event: 'packet', listener: (bytes: number, truncated: boolean) => void): unknown;
}

const require = createRequire(import.meta.url);

export class ArpCapture {
  private handles: CapHandle[] = [];

  constructor(
    private readonly interfaces: string[],
    private readonly logger?: Logger,
  ) {}

  /** Opens every interface or none; an interface that cannot be opened is an error naming it. */
  start(onArp: (arp: ArpPacket, iface: string) => void): void {
    const { Cap } = require('cap') as { Cap: new () => CapHandle };
    try {
      for (const iface of this.interfaces) {
        if (!interfaceExists(iface)) throw new Error(`ARP capture: no interface ${iface} in this network namespace`);
        const handle = new Cap();
        const frame = Buffer.alloc(FRAME_BYTES);
        const linkName = handle.open(iface, 'arp', ARP_KERNEL_BUFFER_BYTES, frame);
        this.handles.push(handle);
        const link = linkTypeNumber(linkName);
        if (link === undefined) throw new Error(`ARP capture: link type ${linkName} of ${iface} carries no ARP`);
        handle.on('packet', (bytes) => {
          const r = decodeArpFrame(link, frame.subarray(0, Math.min(bytes, FRAME_BYTES)));
          if (!r.ok) return;
          try {
            onArp(r.arp, iface);
          } catch (e) {
            // Thrown into libpcap's dispatch loop it would kill the daemon.
            this.logger?.error({ iface, err: e }, 'ARP handler threw');
          }
        });
      }
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  stop(): void {
    for (const h of this.handles) h.close();
    this.handles = [];
  }
}
