import { createRequire } from 'node:module';
import type { Capture, CaptureCounters, HmacScreen as NativeHmacScreen, ScreenedSpaDoor } from 'knockgate-capture';
import type { HmacScreen } from '../core/spa/index.js';
import { linkTypeNumber } from '../core/frame-decoder.js';
import { KnockgateError } from '../core/knockgate-error.js';

/**
 * One libpcap handle through our own addon (native/capture): it unpacks the addon's batches into
 * one frame at a time. We wrote the addon because a binding fixed at a 65,535-byte snaplen gets
 * one 64 KiB ring slot per packet on interfaces with segmentation offload, so a 16 MiB ring held
 * ~256 packets, about 2 ms of a flood; with a snaplen of a few KiB the same ring holds thousands.
 */

export type { CaptureCounters, ScreenedSpaDoor };

/** Each record in a batch: little-endian uint32 seconds, microseconds, captured length, wire length, verdict. */
const RECORD_HEADER_BYTES = 20;
/** The verdict of a packet the addon's SPA screen refused, handed up as a sample. */
const VERDICT_BAD_HMAC = 1;
const US_PER_MS = 1_000;
const MS_PER_S = 1_000;

export interface LibpcapCaptureOptions {
  iface: string;
  filter: string;
  /** Bytes kept of each packet; the ring's slot size follows from it. */
  snaplen: number;
  /** Kernel ring size in bytes. */
  bufferBytes: number;
  /** Packets handed over per event-loop turn at most. */
  batchPackets: number;
  /**
   * Reader threads (0 or absent: the event loop reads the ring): that many handles in one
   * PACKET_FANOUT group, each read and screened in a thread of its own. Packets of one ring then
   * arrive out of order across threads: only for rings of whole-message (SPA) datagrams.
   */
  threads?: number;
  /**
   * One captured frame: the bytes (valid only during the call), libpcap's time in ms, cut short by
   * the snaplen, and whether the addon's SPA screen refused it for its HMAC (a sample of those).
   */
  onFrame: (frame: Uint8Array, timeMs: number, truncated: boolean, badHmac: boolean) => void;
  /** After a batch's frames: the packets the SPA screen refused and did not hand up. */
  onRefused?: (count: number) => void;
  /** A frame handler threw, or libpcap failed reading (the handle then delivers nothing more). */
  onError: (error: Error) => void;
}

const require = createRequire(import.meta.url);

/** The libpcap addon is not installed: the npm package (the laptop client) leaves it out. */
export class CaptureUnavailableError extends KnockgateError {
  override readonly name = 'CaptureUnavailableError';
  readonly code = 'sensor.capture-unavailable';
  constructor(cause: unknown) {
    super("packet capture needs knockgate's libpcap addon (knockgate-capture), which this installation lacks", {
      cause,
      nextStep: 'run serve, guard and lab from the Debian package (README, "Install on a bastion") or from a clone set up with scripts/setup.sh',
    });
  }
}

/** Loaded on first capture, so commands that never capture run without the addon. */
function loadAddon(): typeof import('knockgate-capture') {
  try {
    return require('knockgate-capture') as typeof import('knockgate-capture');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new CaptureUnavailableError(e);
    throw e;
  }
}

export class LibpcapCapture {
  readonly iface: string;
  /** The frame decoder's link type; undefined for one it cannot read. */
  readonly linkType: number | undefined;
  /** libpcap's name of the link type (its number when it has none), for messages. */
  readonly linkName: string;
  private readonly native: Capture;
  private readonly batch: Buffer;
  private lastCounters: CaptureCounters = { received: 0, dropped: 0, interfaceDropped: 0 };
  private closed = false;

  /** Throws libpcap's message when the interface cannot be captured on. */
  constructor(opts: LibpcapCaptureOptions) {
    const { Capture: NativeCapture } = loadAddon();
    this.iface = opts.iface;
    this.batch = Buffer.alloc(opts.batchPackets * (RECORD_HEADER_BYTES + opts.snaplen));
    const onBatch = (error: Error | null, count: number, _bytes: number, refused: number): void => {
      if (error) {
        opts.onError(error);
        return;
      }
      this.deliver(count, opts);
      if (refused > 0 && !this.closed) opts.onRefused?.(refused);
    };
    this.native = new NativeCapture(opts.iface, opts.filter, opts.snaplen, opts.bufferBytes, this.batch, onBatch, opts.threads ?? 0);
    const name = this.native.linkTypeName;
    this.linkType = (name === null ? undefined : linkTypeNumber(name)) ?? linkTypeNumber(this.native.linkType);
    this.linkName = name ?? String(this.native.linkType);
  }

  /** The kernel's counters; after close() the last ones read. */
  counters(): CaptureCounters {
    if (!this.closed) this.lastCounters = this.native.stats();
    return { ...this.lastCounters };
  }

  /** Throws libpcap's message for a filter it cannot compile; the old filter then stays. */
  setFilter(filter: string): void {
    this.native.setFilter(filter);
  }

  /**
   * Refuse bad-HMAC datagrams to UDP `port` in the addon (its screen must be the addon's
   * HmacScreen, one entry in `doors` per key); undefined hands every packet up again.
   */
  screenSpa(screen: { port: number; screen: HmacScreen; doors: ScreenedSpaDoor[] } | undefined): void {
    if (screen) this.native.screenSpa(screen.port, screen.screen as unknown as NativeHmacScreen, screen.doors);
    else this.native.screenSpa(null);
  }

  /** Reads the counters one last time, then stops; packets still in the ring go with it. */
  close(): void {
    if (this.closed) return;
    try {
      this.counters();
    } finally {
      // The addon hands up the refused count it still holds as it closes, so closed comes after.
      this.native.close();
      this.closed = true;
    }
  }

  private deliver(count: number, opts: LibpcapCaptureOptions): void {
    const view = this.batch;
    for (let i = 0, at = 0; i < count && !this.closed; i++) {
      const seconds = view.readUInt32LE(at);
      const micros = view.readUInt32LE(at + 4);
      const captured = view.readUInt32LE(at + 8);
      const wire = view.readUInt32LE(at + 12);
      const verdict = view.readUInt32LE(at + 16);
      const start = at + RECORD_HEADER_BYTES;
      at = start + captured;
      try {
        opts.onFrame(view.subarray(start, at), seconds * MS_PER_S + micros / US_PER_MS, captured < wire, verdict === VERDICT_BAD_HMAC);
      } catch (e) {
        // Thrown out of here it would end this batch and, from the native callback, the process.
        opts.onError(e as Error);
      }
    }
  }
}
