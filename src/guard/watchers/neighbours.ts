import { describeError } from '../../core/knockgate-error.js';
import { decodeArpFrame } from '../../core/frame-decoder.js';
import type { ArpWatchSettings, Ipv6WatchSettings } from '../../config/model.js';
import type { NeighbourFinding } from '../finding.js';
import { readArpTable, readGateways } from '../host-facts.js';
import { readIpv6Gateways, readIpv6Neighbours } from '../ip-neighbours6.js';
import { LinkCapture } from '../link-capture.js';
import { arpRequest, readEthernet, readIpv6Icmp, ETHERTYPE_IPV6 } from '../link-frames.js';
import { ICMPV6_NEIGHBOUR_ADVERTISEMENT, NDP_HOP_LIMIT, readNeighbourAdvert } from '../ndp-message.js';
import { LEARNING_WINDOW_MS, NeighbourWatch } from '../neighbour-watch.js';
import type { ArpEntry } from '../proc-net-arp.js';
import { interfaceIdentity, sendFrames } from '../link-send.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * The neighbour tables: the MAC of the default gateway(s) and of declared neighbours, IPv4
 * through ARP (`arp-changed`, `arp-conflict`) and IPv6 through NDP (`ndp-changed`,
 * `ndp-conflict`). Sightings come from the kernel's table every poll and from captured ARP or
 * neighbour advertisements as they arrive. When the IPv4 watch starts it asks each watched
 * address with an ARP request, so the real host answers inside the learning window even when a
 * spoofer's MAC is already in the table.
 */

/** Sightings judged between two polls; a spoofer's flood is counted, not queued. */
export const MAX_SIGHTINGS_PER_POLL = 4_096;
/** ARP: 42-byte frames; 128 is libpcap's smallest snaplen. NA: Ethernet + IPv6 + NA + options. */
const ARP_SNAPLEN_BYTES = 128;
const NA_SNAPLEN_BYTES = 256;

interface FamilySource {
  name: 'arp' | 'ndp';
  filter: string;
  snaplen: number;
  gateways(): Promise<Array<{ ip: string; iface: string }>>;
  table(): Promise<ArpEntry[]>;
  /** The (ip, mac) a captured frame claims, if it is a claim. */
  decode(frame: Uint8Array, linkType: number): { ip: string; mac: string } | undefined;
}

const IPV4: FamilySource = {
  name: 'arp',
  filter: 'arp',
  snaplen: ARP_SNAPLEN_BYTES,
  gateways: () => Promise.resolve(readGateways()),
  table: () => Promise.resolve(readArpTable()),
  decode(frame, linkType) {
    const r = decodeArpFrame(linkType, frame);
    return r.ok ? { ip: r.arp.senderIp, mac: r.arp.senderMac } : undefined;
  },
};

const IPV6: FamilySource = {
  name: 'ndp',
  // Neighbour advertisements only; hop limit 255 is checked after decoding.
  filter: 'icmp6 and ip6[40] == 136',
  snaplen: NA_SNAPLEN_BYTES,
  gateways: readIpv6Gateways,
  table: readIpv6Neighbours,
  decode(frame) {
    const eth = readEthernet(frame);
    const icmp = eth?.type === ETHERTYPE_IPV6 ? readIpv6Icmp(eth.payload) : undefined;
    if (!icmp || icmp.type !== ICMPV6_NEIGHBOUR_ADVERTISEMENT || icmp.hopLimit !== NDP_HOP_LIMIT) return undefined;
    const na = readNeighbourAdvert(icmp.message);
    // An NA without the option claims the sender's own MAC for its target.
    return na ? { ip: na.target, mac: na.targetMac ?? eth!.src } : undefined;
  },
};

export class NeighbourWatcher implements GuardWatcher {
  readonly name: 'arp' | 'ndp';
  private readonly watch: NeighbourWatch;
  private readonly source: FamilySource;
  private capture: LinkCapture | undefined;
  private sightings = 0;

  constructor(
    private readonly settings: ArpWatchSettings | Ipv6WatchSettings,
    family: 4 | 6,
    private readonly ctx: WatcherContext,
  ) {
    this.source = family === 4 ? IPV4 : IPV6;
    this.name = this.source.name;
    this.watch = new NeighbourWatch(family);
  }

  private get interfaces(): readonly string[] {
    return this.settings.interfaces.length > 0 ? this.settings.interfaces : this.ctx.interfaces;
  }

  /** The learning window, when there is anything to learn (no gateway and no neighbour: nothing). */
  get settleMs(): number {
    return this.watch.watchedAddresses.length > 0 ? LEARNING_WINDOW_MS : 0;
  }

  async start(): Promise<void> {
    await this.refreshWatched();
    // The table as it stands before the probe: a spoofed entry already in it meets the real host's answer.
    const now = this.ctx.now();
    for (const entry of await this.source.table()) this.watch.observe(entry.ip, entry.mac, entry.iface, now);
    const interfaces = this.interfaces;
    if (interfaces.length === 0) return;
    const capture = new LinkCapture({ interfaces, filter: this.source.filter, snaplen: this.source.snaplen, what: `${this.name} capture`, logger: this.ctx.logger });
    try {
      capture.start((frame, iface, linkType) => {
        if (++this.sightings > MAX_SIGHTINGS_PER_POLL) return;
        const claim = this.source.decode(frame, linkType);
        if (claim) this.watch.observe(claim.ip, claim.mac, iface, this.ctx.now());
      });
      this.capture = capture;
    } catch (err) {
      this.ctx.logger.error({ outcome: 'guard-error', watcher: this.name, interfaces, err: describeError(err) }, `guard: ${this.name} capture unavailable; watching the neighbour table only`);
    }
    if (this.source === IPV4 && this.capture) this.probe(this.watch.watchedAddresses);
  }

  stop(): void {
    this.capture?.stop();
    this.capture = undefined;
  }

  async findings(now: number): Promise<NeighbourFinding[]> {
    await this.refreshWatched();
    for (const entry of await this.source.table()) this.watch.observe(entry.ip, entry.mac, entry.iface, now);
    if (this.sightings > MAX_SIGHTINGS_PER_POLL) this.ctx.logger.warn({ outcome: 'guard-arp-flood', watcher: this.name, sightings: this.sightings }, `guard: ${this.name} flood; sightings beyond the bound were not judged`);
    this.sightings = 0;
    const { findings, learnt, probe } = this.watch.findings(now);
    for (const { ip, mac } of learnt) this.ctx.logger.info({ outcome: 'guard-arp-learnt', watcher: this.name, ip, mac }, `guard: learnt ${ip} at ${mac}`);
    if (probe.length > 0 && this.source === IPV4 && this.capture) this.probe(probe);
    return findings;
  }

  get watchedAddresses(): string[] {
    return this.watch.watchedAddresses;
  }

  /** Watched: the current default gateways (re-read each poll) and the declared neighbours. */
  private async refreshWatched(): Promise<void> {
    const gateways = this.settings.gateway ? (await this.source.gateways()).map((g) => g.ip) : [];
    this.watch.setWatched([...gateways, ...this.settings.neighbours]);
  }

  /** One ARP request per address on each interface, so every host that claims it answers in the learning window. */
  private probe(addresses: readonly string[]): void {
    const frames: Array<{ iface: string; frame: Buffer }> = [];
    for (const iface of this.interfaces) {
      const me = interfaceIdentity(iface, 4);
      if (!me) continue;
      for (const ip of addresses) frames.push({ iface, frame: arpRequest(me.mac, me.address, ip) });
    }
    sendFrames(frames, this.ctx.logger, this.name);
  }
}
