import type { LinkFinding } from './finding.js';

/**
 * The rogue servers or routers seen on the link, for the DHCP and router-advert watchers. Pure:
 * answers and probe times in, findings out. A rogue stands from its first answer until a probe
 * sent after its last answer has waited its full time with no answer from it: it stopped (or
 * was unplugged), and the finding clears once.
 */

/** Rogues remembered at once: a flood of forged servers (random MACs) cannot grow memory. */
export const MAX_ROGUES = 256;

interface Rogue<T> {
  finding: T;
  lastSeen: number;
}

export class RogueTable<T extends LinkFinding> {
  private readonly rogues = new Map<string, Rogue<T>>();
  private lastProbe: number | undefined;
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
    this.lastProbe = now;
  }

  /** Answers past the bound since the last call. */
  takeOverflow(): number {
    const n = this.overflow;
    this.overflow = 0;
    return n;
  }

  findings(now: number): T[] {
    const probe = this.lastProbe;
    if (probe !== undefined && now >= probe + this.probeWaitMs) {
      for (const [key, r] of this.rogues) if (r.lastSeen < probe) this.rogues.delete(key);
    }
    return [...this.rogues.values()].map((r) => r.finding);
  }
}
