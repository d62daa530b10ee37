import type { NeighbourFinding } from './finding.js';

/**
 * Learns the MAC of each watched neighbour (IPv4 through ARP, IPv6 through NDP) and reports
 * when it changes, or when two MACs answer for one address. Pure: sightings (from the kernel's
 * neighbour table, captured ARP or neighbour advertisements, answers to a probe) and times in,
 * findings out. A MAC is learnt only after a learning window with one MAC in it: a spoof already
 * in place when the watch starts (or reloads) meets the real host's answer to the probe in the
 * window, and is a conflict from the start instead of being learnt.
 */

/** Two MACs seen for one address within this window are a conflict (a spoofer and the real host both answering). */
export const NEIGHBOUR_CONFLICT_WINDOW_MS = 30_000;
/** Sightings gathered before a MAC is learnt: the probe's answers arrive within milliseconds on a LAN. */
export const LEARNING_WINDOW_MS = 2_000;
/** MACs remembered per address: a spoofer cycling random MACs cannot grow memory. */
export const MAX_MACS_PER_ADDRESS = 8;
/** Addresses watched at once: the gateway(s) and declared neighbours. */
export const MAX_WATCHED_ADDRESSES = 256;

interface Neighbour {
  /** Undefined while learning, and when the window ended with more than one MAC. */
  learnedMac?: string;
  learningUntil: number;
  latestMac: string;
  /** MAC → last time seen. */
  sightings: Map<string, number>;
  interfaces: Set<string>;
}

export class NeighbourWatch {
  private watched = new Set<string>();
  private readonly neighbours = new Map<string, Neighbour>();
  private readonly kinds: { changed: NeighbourFinding['kind']; conflict: NeighbourFinding['kind'] };

  constructor(family: 4 | 6) {
    this.kinds = family === 4 ? { changed: 'arp-changed', conflict: 'arp-conflict' } : { changed: 'ndp-changed', conflict: 'ndp-conflict' };
  }

  /** The addresses to watch now; what is no longer watched is forgotten. */
  setWatched(ips: Iterable<string>): void {
    this.watched = new Set([...ips].slice(0, MAX_WATCHED_ADDRESSES));
    for (const ip of this.neighbours.keys()) if (!this.watched.has(ip)) this.neighbours.delete(ip);
  }

  /** Forgets what was learnt (a reload): every address is learnt again. */
  reset(): void {
    this.neighbours.clear();
  }

  get watchedAddresses(): string[] {
    return [...this.watched];
  }

  /** One sighting of `ip` at `mac`. */
  observe(ip: string, mac: string, iface: string, now: number): void {
    if (!this.watched.has(ip)) return;
    const m = mac.toLowerCase();
    const known = this.neighbours.get(ip);
    if (!known) {
      this.neighbours.set(ip, { learningUntil: now + LEARNING_WINDOW_MS, latestMac: m, sightings: new Map([[m, now]]), interfaces: new Set([iface]) });
      return;
    }
    known.latestMac = m;
    known.sightings.delete(m);
    known.sightings.set(m, now);
    known.interfaces.add(iface);
    // Map order is insertion order and a sighting is re-inserted, so the first key is the stalest.
    while (known.sightings.size > MAX_MACS_PER_ADDRESS) known.sightings.delete(known.sightings.keys().next().value!);
  }

  /**
   * The findings now, the addresses whose MAC was learnt by this call (for a log line), and those
   * to ask again: a conflict from the start that has cleared (one MAC left) is learnt only after a
   * new window with a new probe, so a spoofer that outlasted a quiet gateway is not learnt.
   */
  findings(now: number): { findings: NeighbourFinding[]; learnt: Array<{ ip: string; mac: string }>; probe: string[] } {
    const out: NeighbourFinding[] = [];
    const learnt: Array<{ ip: string; mac: string }> = [];
    const probe: string[] = [];
    for (const [ip, n] of this.neighbours) {
      if (now < n.learningUntil) continue;
      if (n.learningUntil > 0) {
        // The window just ended: one MAC is learnt; several stay a conflict with none trusted.
        if (n.sightings.size === 1) learnt.push({ ip, mac: (n.learnedMac = n.latestMac) });
        n.learningUntil = 0;
      }
      for (const [mac, seen] of n.sightings) if (now - seen > NEIGHBOUR_CONFLICT_WINDOW_MS && mac !== n.latestMac) n.sightings.delete(mac);
      const macs = [...n.sightings.keys()];
      if (n.learnedMac === undefined && macs.length === 1) {
        n.learningUntil = now + LEARNING_WINDOW_MS;
        probe.push(ip);
        continue;
      }
      const base = { family: 'neighbour' as const, ip, ...(n.learnedMac !== undefined && { learnedMac: n.learnedMac }), macs, interfaces: [...n.interfaces] };
      if (n.learnedMac !== undefined && n.latestMac !== n.learnedMac) {
        out.push({ ...base, kind: this.kinds.changed, key: `${this.kinds.changed}|${ip}|${n.learnedMac}|${n.latestMac}`, summary: `${ip} moved from ${n.learnedMac} to ${n.latestMac}` });
      }
      if (macs.length > 1) {
        const since = n.learnedMac === undefined ? ' (since the watch started: no MAC could be learnt)' : '';
        out.push({ ...base, kind: this.kinds.conflict, key: `${this.kinds.conflict}|${ip}|${[...macs].sort().join(',')}`, summary: `${macs.length} MACs answer for ${ip}: ${macs.join(', ')}${since}` });
      }
    }
    return { findings: out, learnt, probe };
  }
}
