import type { Logger } from '../log/logger.js';
import type { Finding } from './finding.js';

/**
 * One source of guard findings (the socket tables, a neighbour table, the link, the NAT rules),
 * as one adapter behind one interface: the daemon's GuardWatch and `guard check` run whichever
 * the settings turn on, the same way, and a new source is one new file in watchers/.
 */
export interface GuardWatcher {
  /** For log lines: `ports`, `arp`, `dhcp`, … */
  readonly name: string;
  /**
   * How long after start() its findings are complete (a probe's wait for answers, a learning
   * window); `guard check` waits the longest of these before it asks.
   */
  readonly settleMs: number;
  /** Opens what it watches (captures), sends a first probe; throws when it cannot watch at all. */
  start(): Promise<void>;
  /** Closes captures and timers; idempotent. */
  stop(): void;
  /** The findings standing now. Called once per poll; never overlaps itself. */
  findings(now: number): Promise<Finding[]>;
}

export interface WatcherContext {
  logger: Logger;
  /** Where link watchers capture and probe when their settings name no interface. */
  interfaces: readonly string[];
  /** knockgate's own nftables table: its NAT grants are intended, not diverted. */
  ownTable?: string;
  /** One-shot (`guard check`): probes once, keeps no cache between calls. */
  once: boolean;
  now: () => number;
  /** A watcher saw something new between polls (a rogue's answer): poll now rather than at the next interval. */
  wake?: () => void;
}
