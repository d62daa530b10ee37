import { ipv6Text } from '../core/frame-decoder.js';
import { ETHERTYPE_IPV6, ethernetFrame, ipv6IcmpPacket, macText } from './link-frames.js';

/**
 * The IPv6 Neighbor Discovery messages the guard reads and sends (RFC 4861): router
 * advertisements (who offers to route), neighbour advertisements (who claims an address) and the
 * router solicitation that asks every router to advertise now. Pure.
 */

export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const ICMPV6_NEIGHBOUR_ADVERTISEMENT = 136;
/** RFC 4861 7.1.2/6.1.2: an NDP message not sent with hop limit 255 came from off the link; it is ignored. */
export const NDP_HOP_LIMIT = 255;
const OPT_SOURCE_LINK_ADDRESS = 1;
const OPT_TARGET_LINK_ADDRESS = 2;
const OPT_PREFIX_INFORMATION = 3;
const OPT_RDNSS = 25;
/** Prefixes and DNS servers read from one advertisement; past it the rest is left out. */
const MAX_LISTED = 16;
const ALL_ROUTERS = 'ff02::2';
const ALL_ROUTERS_MAC = '33:33:00:00:00:02';

export interface RouterAdvert {
  routerLifetime: number;
  sourceMac?: string;
  prefixes: string[];
  dns: string[];
}

export interface NeighbourAdvert {
  target: string;
  /** The Target Link-Layer Address option: the MAC the sender claims for `target`. */
  targetMac?: string;
  router: boolean;
  solicited: boolean;
  override: boolean;
}

/** A router solicitation from the unspecified address (so it carries no source link-layer option), to all routers. */
export function routerSolicitationFrame(sourceMac: string): Buffer {
  const rs = new Uint8Array(8);
  rs[0] = ICMPV6_ROUTER_SOLICITATION;
  return ethernetFrame(ALL_ROUTERS_MAC, sourceMac, ETHERTYPE_IPV6, ipv6IcmpPacket('::', ALL_ROUTERS, NDP_HOP_LIMIT, rs));
}

export function readRouterAdvert(message: Uint8Array): RouterAdvert | undefined {
  if (message.length < 16 || message[0] !== ICMPV6_ROUTER_ADVERTISEMENT || message[1] !== 0) return undefined;
  const advert: RouterAdvert = { routerLifetime: (message[6]! << 8) | message[7]!, prefixes: [], dns: [] };
  const ok = forEachOption(message, 16, (type, value) => {
    if (type === OPT_SOURCE_LINK_ADDRESS && value.length >= 6) advert.sourceMac = macText(value, 0);
    else if (type === OPT_PREFIX_INFORMATION && value.length >= 30 && advert.prefixes.length < MAX_LISTED) advert.prefixes.push(`${ipv6Text(value, 14)}/${value[0]}`);
    else if (type === OPT_RDNSS && value.length >= 22) {
      for (let at = 6; at + 16 <= value.length && advert.dns.length < MAX_LISTED; at += 16) advert.dns.push(ipv6Text(value, at));
    }
  });
  return ok ? advert : undefined;
}

export function readNeighbourAdvert(message: Uint8Array): NeighbourAdvert | undefined {
  if (message.length < 24 || message[0] !== ICMPV6_NEIGHBOUR_ADVERTISEMENT || message[1] !== 0) return undefined;
  const flags = message[4]!;
  const advert: NeighbourAdvert = { target: ipv6Text(message, 8), router: (flags & 0x80) !== 0, solicited: (flags & 0x40) !== 0, override: (flags & 0x20) !== 0 };
  const ok = forEachOption(message, 24, (type, value) => {
    if (type === OPT_TARGET_LINK_ADDRESS && value.length >= 6) advert.targetMac = macText(value, 0);
  });
  return ok ? advert : undefined;
}

/** Calls `each(type, value-after-type-and-length)`; false when an option's length is 0 or runs past the end (RFC 4861 4.6: discard). */
function forEachOption(message: Uint8Array, from: number, each: (type: number, value: Uint8Array) => void): boolean {
  for (let at = from; at < message.length; ) {
    const units = message[at + 1];
    if (units === undefined || units === 0 || at + units * 8 > message.length) return false;
    each(message[at]!, message.subarray(at + 2, at + units * 8));
    at += units * 8;
  }
  return true;
}
