import type { Ipv6WatchSettings } from '../../config/model.js';
import type { RogueRouterFinding } from '../finding.js';
import { ETHERTYPE_IPV6, readEthernet, readIpv6Icmp } from '../link-frames.js';
import { interfaceIdentity } from '../link-send.js';
import { ICMPV6_ROUTER_ADVERTISEMENT, NDP_HOP_LIMIT, readRouterAdvert, routerSolicitationFrame } from '../ndp-message.js';
import type { WatcherContext } from '../watcher.js';
import { LinkProbeWatcher } from './link-probe.js';

/**
 * Rogue IPv6 routers: a router advertisement from a link-local address not declared in
 * `[guard.ipv6] routers` is a `rogue-router` finding (source, MAC, prefixes, router lifetime,
 * DNS servers). The probe is one router solicitation per interface, which asks every router to
 * advertise now.
 */

/** Ethernet + IPv6 + an RA with a few prefix and RDNSS options. */
const RA_SNAPLEN_BYTES = 1_514;

export function routerAdvertWatcher(settings: Ipv6WatchSettings, ctx: WatcherContext): LinkProbeWatcher<RogueRouterFinding> {
  return new LinkProbeWatcher(
    {
      name: 'router-adverts',
      what: 'router advertisement capture',
      section: '[guard.ipv6]',
      interfaces: settings.interfaces,
      probeIntervalMs: settings.probeIntervalMs,
      probeWaitMs: settings.probeWaitMs,
      filter: `icmp6 and ip6[40] == ${ICMPV6_ROUTER_ADVERTISEMENT}`,
      snaplen: RA_SNAPLEN_BYTES,
      probeFrame: (iface) => {
        const me = interfaceIdentity(iface, 6);
        return me && routerSolicitationFrame(me.mac);
      },
      judge: (frame, iface) => judgeRouterAdvert(frame, iface, settings.routers),
    },
    ctx,
  );
}

/** A rogue's finding for a captured router advertisement; undefined for a declared router's or anything else. Pure. */
export function judgeRouterAdvert(frame: Uint8Array, iface: string, routers: readonly string[]): RogueRouterFinding | undefined {
  const eth = readEthernet(frame);
  const icmp = eth?.type === ETHERTYPE_IPV6 ? readIpv6Icmp(eth.payload) : undefined;
  // RFC 4861 6.1.2: an RA must come from a link-local source with hop limit 255, or hosts ignore it.
  if (!icmp || icmp.hopLimit !== NDP_HOP_LIMIT || !icmp.src.startsWith('fe80:')) return undefined;
  const ra = readRouterAdvert(icmp.message);
  if (!ra || routers.includes(icmp.src)) return undefined;
  const mac = ra.sourceMac ?? eth!.src;
  const offered = [`router lifetime ${ra.routerLifetime} s`, ra.prefixes.length > 0 && `prefixes ${ra.prefixes.join(', ')}`, ra.dns.length > 0 && `DNS ${ra.dns.join(', ')}`].filter(Boolean);
  return {
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
}
