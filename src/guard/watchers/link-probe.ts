import type { LinkFinding } from '../finding.js';
import { LinkCapture } from '../link-capture.js';
import { sendFrames } from '../link-send.js';
import { RogueTable } from '../rogue-table.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * What the rogue-DHCP and rogue-router watchers share: a passive capture of the answers on the
 * watched interfaces, one probe per interface at start and every probe interval (once in
 * `guard check`), and a RogueTable that clears a rogue a full probe wait after a probe it did
 * not answer. Each watcher gives its filter, its probe frame and how it judges a captured frame.
 */

export interface LinkProbeSpec<T extends LinkFinding> {
  name: string;
  /** What the capture is for, in messages. */
  what: string;
  /** The settings table, for the operator's next step (`[guard.dhcp]`). */
  section: string;
  /** Where to watch; empty = the daemon's interfaces. */
  interfaces: readonly string[];
  probeIntervalMs: number;
  probeWaitMs: number;
  filter: string;
  snaplen: number;
  /** The probe for one interface; undefined when the interface cannot send one (no MAC). */
  probeFrame(iface: string): Buffer | undefined;
  /** A rogue's finding for a captured frame; undefined for anything else (a declared server, garbage). */
  judge(frame: Uint8Array, iface: string): T | undefined;
}

export class LinkProbeWatcher<T extends LinkFinding> implements GuardWatcher {
  readonly name: string;
  readonly settleMs: number;
  private readonly rogues: RogueTable<T>;
  private capture: LinkCapture | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly spec: LinkProbeSpec<T>,
    private readonly ctx: WatcherContext,
  ) {
    this.name = spec.name;
    this.settleMs = spec.probeWaitMs;
    this.rogues = new RogueTable(spec.probeWaitMs);
  }

  private get interfaces(): readonly string[] {
    return this.spec.interfaces.length > 0 ? this.spec.interfaces : this.ctx.interfaces;
  }

  start(): Promise<void> {
    const interfaces = this.interfaces;
    if (interfaces.length === 0) throw new Error(`${this.spec.what}: no interface to watch; name one in ${this.spec.section} interfaces or daemon.interfaces`);
    const capture = new LinkCapture({ interfaces, filter: this.spec.filter, snaplen: this.spec.snaplen, what: this.spec.what, logger: this.ctx.logger });
    capture.start((frame, iface) => {
      const finding = this.spec.judge(frame, iface);
      if (finding && this.rogues.seen(finding, this.ctx.now())) this.ctx.wake?.();
    });
    this.capture = capture;
    this.probe();
    if (!this.ctx.once) {
      this.timer = setInterval(() => this.probe(), this.spec.probeIntervalMs);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.capture?.stop();
    this.capture = undefined;
  }

  findings(now: number): Promise<T[]> {
    const overflow = this.rogues.takeOverflow();
    if (overflow > 0) this.ctx.logger.warn({ outcome: 'guard-rogue-flood', watcher: this.name, answers: overflow }, `guard: more rogues answer (${this.name}) than the bound; the rest were not recorded`);
    return Promise.resolve(this.rogues.findings(now));
  }

  private probe(): void {
    const frames = this.interfaces.flatMap((iface) => {
      const frame = this.spec.probeFrame(iface);
      return frame ? [{ iface, frame }] : [];
    });
    this.rogues.probeSent(this.ctx.now());
    sendFrames(frames, this.ctx.logger, this.name);
  }
}
