import type { ArpFinding } from './finding.js';

/**
 * Learns the MAC of each watched IPv4 neighbour and reports when it changes, or when two MACs
 * answer for one address. Pure: sightings (from the kernel table or captured ARP) and times in,
 * findings out. The first MAC seen is the one learnt; a reload starts learning again.
 */

/** Two MACs seen for one address within this window are a conflict (a spoofer and the real host both answering). */
export const ARP_CONFLICT_WINDOW_MS = 30_000;
/** MACs remembered per address: a spoofer cycling random MACs cannot grow memory. */
export const MAX_MACS_PER_ADDRESS = 8;
/** Addresses watched at once: the gateway(s) and declared neighbours. */
export const MAX_WATCHED_ADDRESSES = 256;

interface Neighbour {
  learnedMac: string;
  latestMac: string;
  /** MAC → last time seen. */
  sightings: Map<string, number>;
  interfaces: Set<string>;
}

export class ArpWatch {
  private watched = new Set<string>();
  private readonly neighbours = new Map<string, Neighbour>();

  /** The addresses to watch now; what is no longer watched is forgotten. */
  setWatched(ips: Iterable<string>): void {
    this.watched = new Set([...ips].slice(0, MAX_WATCHED_ADDRESSES));
    for (const ip of this.neighbours.keys()) if (!this.watched.has(ip)) this.neighbours.delete(ip);
  }

  get watchedAddresses(): string[] {
    return [...this.watched];
  }

  /** One sighting of `ip` at `mac`; returns true when this is the MAC learnt for it. */
  observe(ip: string, mac: string, iface: string, now: number): boolean {
    if (!this.watched.has(ip)) return false;
    const m = mac.toLowerCase();
    const known = this.neighbours.get(ip);
    if (!known) {
      this.neighbours.set(ip, { learnedMac: m, latestMac: m, sightings: new Map([[m, now]]), interfaces: new Set([iface]) });
      return true;
    }
    known.latestMac = m;
    known.sightings.delete(m);
    known.sightings.set(m, now);
    known.interfaces.add(iface);
    // Map order is insertion order and a sighting is re-inserted, so the first key is the stalest.
    while (known.sightings.size > MAX_MACS_PER_ADDRESS) known.sightings.delete(known.sightings.keys().next().value!);
    return false;
  }

  findings(now: number): ArpFinding[] {
    const out: ArpFinding[] = [];
    for (const [ip, n] of this.neighbours) {
      for (const [mac, seen] of n.sightings) if (now - seen > ARP_CONFLICT_WINDOW_MS && mac !== n.latestMac) n.sightings.delete(mac);
      const macs = [...n.sightings.keys()];
      const base = { ip, learnedMac: n.learnedMac, macs, interfaces: [...n.interfaces] };
      if (n.latestMac !== n.learnedMac) {
        out.push({ ...base, kind: 'arp-changed', key: `arp-changed|${ip}|${n.learnedMac}|${n.latestMac}`, summary: `${ip} moved from ${n.learnedMac} to ${n.latestMac}` });
      }
      if (macs.length > 1) {
        out.push({ ...base, kind: 'arp-conflict', key: `arp-conflict|${ip}|${[...macs].sort().join(',')}`, summary: `${macs.length} MACs answer for ${ip}: ${macs.join(', ')}` });
      }
    }
    return out;
  }
}
