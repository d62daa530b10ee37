import { decodeArpFrame, type ArpPacket } from '../core/frame-decoder.js';
import type { Logger } from '../log/logger.js';
import { interfaceExists } from '../sensors/interfaces.js';
import { LibpcapCapture } from '../sensors/libpcap-capture.js';

/**
 * Passive ARP capture for the ARP watch: one libpcap handle per interface with the filter `arp`.
 * It sees gratuitous ARP and replies the moment they arrive, before (or without) the kernel
 * taking them into its neighbour table.
 */

/** ARP is 42-byte frames at a few per second; 1 MiB holds any burst a spoofer sends. */
export const ARP_KERNEL_BUFFER_BYTES = 1024 * 1024;
/** Ethernet + two VLAN tags + ARP fit well within this (libpcap's smallest accepted is 128). */
const ARP_SNAPLEN_BYTES = 128;
/** ARP frames handed to JS per event-loop turn. */
const ARP_BATCH_PACKETS = 64;

export class ArpCapture {
  private handles: LibpcapCapture[] = [];

  constructor(
    private readonly interfaces: string[],
    private readonly logger?: Logger,
  ) {}

  /** Opens every interface or none; an interface that cannot be opened is an error naming it. */
  start(onArp: (arp: ArpPacket, iface: string) => void): void {
    try {
      for (const iface of this.interfaces) {
        if (!interfaceExists(iface)) throw new Error(`ARP capture: no interface ${iface} in this network namespace`);
        let link: number | undefined;
        const handle = new LibpcapCapture({
          iface,
          filter: 'arp',
          snaplen: ARP_SNAPLEN_BYTES,
          bufferBytes: ARP_KERNEL_BUFFER_BYTES,
          batchPackets: ARP_BATCH_PACKETS,
          onFrame: (frame) => {
            const r = link === undefined ? undefined : decodeArpFrame(link, frame);
            if (r?.ok) onArp(r.arp, iface);
          },
          onError: (err) => this.logger?.error({ iface, err }, 'ARP capture failed'),
        });
        this.handles.push(handle);
        link = handle.linkType;
        if (link === undefined) throw new Error(`ARP capture: link type ${handle.linkName} of ${iface} carries no ARP`);
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
