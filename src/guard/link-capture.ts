import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { interfaceExists } from '../sensors/interfaces.js';
import { LibpcapCapture } from '../sensors/libpcap-capture.js';

/**
 * Passive capture for the link watchers: one libpcap handle per interface with a small filter
 * (`arp`; DHCP answers; router and neighbour advertisements). It sees a spoofer's or a rogue
 * server's frames the moment they arrive, before (or without) the kernel acting on them.
 */

/** These watchers see a few frames a second; 1 MiB holds any burst a spoofer sends. */
export const LINK_KERNEL_BUFFER_BYTES = 1024 * 1024;
/** Frames handed to JS per event-loop turn. */
const LINK_BATCH_PACKETS = 64;

export interface LinkCaptureOptions {
  interfaces: readonly string[];
  /** A libpcap filter expression. */
  filter: string;
  /** Bytes kept of each frame: the headers and the message the watcher reads. */
  snaplen: number;
  /** What the capture is for, in error messages ("ARP capture"). */
  what: string;
  logger?: Logger;
}

export class LinkCapture {
  private handles: LibpcapCapture[] = [];

  constructor(private readonly opts: LinkCaptureOptions) {}

  /** Opens every interface or none; an interface that cannot be opened, or whose link type the decoder cannot read, is an error naming it. */
  start(onFrame: (frame: Uint8Array, iface: string, linkType: number) => void): void {
    const { what } = this.opts;
    try {
      for (const iface of this.opts.interfaces) {
        if (!interfaceExists(iface)) throw new Error(`${what}: no interface ${iface} in this network namespace`);
        const handle = new LibpcapCapture({
          iface,
          filter: this.opts.filter,
          snaplen: this.opts.snaplen,
          bufferBytes: LINK_KERNEL_BUFFER_BYTES,
          batchPackets: LINK_BATCH_PACKETS,
          onFrame: (frame) => onFrame(frame, iface, link),
          onError: (err) => this.opts.logger?.error({ iface, err: describeError(err) }, `${what} failed`),
        });
        this.handles.push(handle);
        if (handle.linkType === undefined) throw new Error(`${what}: link type ${handle.linkName} of ${iface} cannot be read`);
        const link: number = handle.linkType;
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
