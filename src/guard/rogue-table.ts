import type { LinkFinding } from './finding.js';

/**
 * The rogue servers or routers seen on the link, for the DHCP and router-advert watchers. Pure:
 * answers and probe times in, findings out. A rogue stands from its first answer until a probe
 * sent after its last answer has waited its full time with no answer from it: it stopped (or
 * was unplugged), and the finding clears once.
 */

/** Rogues remembered at once: a flood of forged servers (random MACs) cannot grow memory. */
export const MAX_ROGUES = 256;
/** Probe times kept: probe_wait is at most 30 s and the interval at least 1 s. */
const MAX_PROBES_KEPT = 32;

interface Rogue<T> {
  finding: T;
  lastSeen: number;
}

export class RogueTable<T extends LinkFinding> {
  private readonly rogues = new Map<string, Rogue<T>>();
  /** Recent probe times, oldest first: a probe's wait may outlast the next probe's start. */
  private probes: number[] = [];
  private overflow = 0;

  constructor(private readonly probeWaitMs: number) {}

  /** An answer from an undeclared server; true when it is new (a finding to report now). */
  seen(finding: T, now: number): boolean {
    const known = this.rogues.get(finding.key);
    if (known) {
      known.finding = finding;
      known.lastSeen = now;
      return false;
    }
    if (this.rogues.size >= MAX_ROGUES) {
      this.overflow++;
      return false;
    }
    this.rogues.set(finding.key, { finding, lastSeen: now });
    return true;
  }

  probeSent(now: number): void {
    this.probes.push(now);
    // Only the newest probe whose wait is over matters; a few more cover waits longer than the interval.
    if (this.probes.length > MAX_PROBES_KEPT) this.probes.shift();
  }

  /** Answers past the bound since the last call. */
  takeOverflow(): number {
    const n = this.overflow;
    this.overflow = 0;
    return n;
  }

  findings(now: number): T[] {
    const probe = this.probes.filter((p) => now >= p + this.probeWaitMs).at(-1);
    if (probe !== undefined) {
      for (const [key, r] of this.rogues) if (r.lastSeen < probe) this.rogues.delete(key);
    }
    return [...this.rogues.values()].map((r) => r.finding);
  }
}
