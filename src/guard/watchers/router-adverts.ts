import type { Ipv6WatchSettings } from '../../config/guard-config.js';
import type { RogueRouterFinding } from '../finding.js';
import { LinkCapture } from '../link-capture.js';
import { ETHERTYPE_IPV6, readEthernet, readIpv6Icmp } from '../link-frames.js';
import { interfaceIdentity, sendFrames } from '../link-send.js';
import { ICMPV6_ROUTER_ADVERTISEMENT, NDP_HOP_LIMIT, readRouterAdvert, routerSolicitationFrame } from '../ndp-message.js';
import { RogueTable } from '../rogue-table.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * Rogue IPv6 routers: a router advertisement from a link-local address not declared in
 * `[guard.ipv6] routers` is a `rogue-router` finding (source, MAC, prefixes, router lifetime,
 * DNS servers). Every probe_interval (and once in `guard check`) one router solicitation per
 * interface asks every router to advertise now.
 */

/** Ethernet + IPv6 + an RA with a few prefix and RDNSS options. */
const RA_SNAPLEN_BYTES = 1_514;

export class RouterAdvertWatcher implements GuardWatcher {
  readonly name = 'router-adverts';
  readonly settleMs: number;
  private readonly rogues: RogueTable<RogueRouterFinding>;
  private capture: LinkCapture | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: Ipv6WatchSettings,
    private readonly ctx: WatcherContext,
  ) {
    this.settleMs = settings.probeWaitMs;
    this.rogues = new RogueTable(settings.probeWaitMs);
  }

  private get interfaces(): readonly string[] {
    return this.settings.interfaces.length > 0 ? this.settings.interfaces : this.ctx.interfaces;
  }

  start(): Promise<void> {
    const interfaces = this.interfaces;
    if (interfaces.length === 0) throw new Error('router advertisement watch: no interface to watch; name one in [guard.ipv6] interfaces');
    const capture = new LinkCapture({ interfaces, filter: `icmp6 and ip6[40] == ${ICMPV6_ROUTER_ADVERTISEMENT}`, snaplen: RA_SNAPLEN_BYTES, what: 'router advertisement capture', logger: this.ctx.logger });
    capture.start((frame, iface) => this.onFrame(frame, iface));
    this.capture = capture;
    this.probe();
    if (!this.ctx.once) {
      this.timer = setInterval(() => this.probe(), this.settings.probeIntervalMs);
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

  findings(now: number): Promise<RogueRouterFinding[]> {
    const overflow = this.rogues.takeOverflow();
    if (overflow > 0) this.ctx.logger.warn({ outcome: 'guard-ra-flood', answers: overflow }, 'guard: more rogue routers than the bound; the rest were not recorded');
    return Promise.resolve(this.rogues.findings(now));
  }

  private probe(): void {
    const frames = this.interfaces.flatMap((iface) => {
      const me = interfaceIdentity(iface, 6);
      return me ? [{ iface, frame: routerSolicitationFrame(me.mac) }] : [];
    });
    this.rogues.probeSent(this.ctx.now());
    sendFrames(frames, this.ctx.logger, this.name);
  }

  private onFrame(frame: Uint8Array, iface: string): void {
    const eth = readEthernet(frame);
    const icmp = eth?.type === ETHERTYPE_IPV6 ? readIpv6Icmp(eth.payload) : undefined;
    // RFC 4861 6.1.2: an RA must come from a link-local source with hop limit 255, or hosts ignore it.
    if (!icmp || icmp.hopLimit !== NDP_HOP_LIMIT || !icmp.src.startsWith('fe80:')) return;
    const ra = readRouterAdvert(icmp.message);
    if (!ra || this.settings.routers.includes(icmp.src)) return;
    const mac = ra.sourceMac ?? eth!.src;
    const offered = [`router lifetime ${ra.routerLifetime} s`, ra.prefixes.length > 0 && `prefixes ${ra.prefixes.join(', ')}`, ra.dns.length > 0 && `DNS ${ra.dns.join(', ')}`].filter(Boolean);
    const finding: RogueRouterFinding = {
      family: 'link',
      kind: 'rogue-router',
      key: `rogue-router|${iface}|${icmp.src}|${mac}`,
      summary: `router ${icmp.src} (${mac}) on ${iface} is not declared, and advertises ${offered.join('; ')}`,
      router: icmp.src,
      mac,
      iface,
      routerLifetime: ra.routerLifetime,
      prefixes: ra.prefixes,
      dns: ra.dns,
    };
    if (this.rogues.seen(finding, this.ctx.now())) this.ctx.wake?.();
  }
}
