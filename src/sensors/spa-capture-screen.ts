import type { KnockPacket } from '../core/packet.js';
import type { HmacScreen } from '../core/spa/index.js';
import type { ScreenedSpaDoor } from './libpcap-capture.js';

/**
 * What the SPA service lets the capture addon refuse before any JavaScript object is made:
 * datagrams to its UDP port that would reach some door's HMAC check and that no door's key made.
 * The addon hands a few of each batch up as samples (`refused`), so their sources are still
 * logged and kept in the recent refusals, and counts the rest (`refusedUnseen`).
 */
export interface SpaCaptureScreen {
  port: number;
  /** The addon's HmacScreen over every door's key (the addon takes no other). */
  screen: HmacScreen;
  /** Each key's door, in key order: the packet lengths it tries and when it expires. */
  doors: ScreenedSpaDoor[];
  /** A refused packet, handed up as a sample. */
  refused(packet: KnockPacket): void;
  /** Packets refused without being handed up. */
  refusedUnseen(count: number): void;
}
