import type { Family, KnockPacket, Proto } from './packet.js';

/**
 * Turns one captured link-layer frame into a KnockPacket, or says why it cannot. Pure: it reads
 * only the bytes it is given and never throws, whatever they hold. The payload is a view into
 * `frame` (no copy), so it is only valid as long as the caller leaves `frame` untouched.
 */

export type DecodeFailure =
  | 'unsupported-link'
  | 'truncated-link'
  | 'not-ip'
  | 'too-many-vlan-tags'
  | 'truncated-ipv4'
  | 'bad-ipv4-header'
  | 'truncated-ipv6'
  | 'bad-ipv6-header'
  | 'too-many-extension-headers'
  | 'fragment'
  | 'not-tcp-udp'
  | 'truncated-tcp'
  | 'bad-tcp-offset'
  | 'truncated-udp'
  | 'bad-udp-length';

export type DecodeResult = { ok: true; packet: KnockPacket } | { ok: false; reason: DecodeFailure };

/** libpcap DLT_* values for the link types this decoder reads. */
export const LinkType = {
  NULL: 0,
  EN10MB: 1,
  RAW: 12,
  LOOP: 108,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
} as const;
export type LinkTypeName = keyof typeof LinkType;

/** 802.1ad stacks an S-tag on a C-tag; a deeper stack is not seen on real links, only crafted. */
export const MAX_VLAN_TAGS = 2;
/** RFC 8200 §4.1 orders at most ~6 extension headers; more is an evasion attempt, not traffic. */
export const MAX_EXTENSION_HEADERS = 8;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_ETHERTYPES = new Set([0x8100, 0x88a8, 0x9100]);
/** AF_INET6 as NULL/LOOP headers carry it: Linux, OpenBSD/NetBSD, FreeBSD, macOS. */
const AF_INET6_VALUES = new Set([10, 24, 28, 30]);
const AF_INET = 2;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;

/** Aliases cap's Cap.open() returns for the same link types. */
const LINK_TYPE_ALIASES: Record<string, number> = {
  ETHERNET: LinkType.EN10MB,
  LINKTYPE_LINUX_SLL: LinkType.LINUX_SLL,
  LINKTYPE_LINUX_SLL2: LinkType.LINUX_SLL2,
  /** LINKTYPE_RAW in savefiles; DLT_RAW is 12 on Linux. */
  LINKTYPE_RAW: LinkType.RAW,
};
const LINKTYPE_RAW_SAVEFILE = 101;
const KNOWN_LINK_TYPES = new Set<number>(Object.values(LinkType));

/** The DLT number for a link type given by number or by name (libpcap's or cap's), if supported. */
export function linkTypeNumber(linkType: string | number): number | undefined {
  if (typeof linkType === 'number') {
    if (linkType === LINKTYPE_RAW_SAVEFILE) return LinkType.RAW;
    return KNOWN_LINK_TYPES.has(linkType) ? linkType : undefined;
  }
  const name = linkType.toUpperCase();
  if (name in LinkType) return LinkType[name as LinkTypeName];
  return LINK_TYPE_ALIASES[name];
}

type Fail = { ok: false; reason: DecodeFailure };
const fail = (reason: DecodeFailure): Fail => ({ ok: false, reason });

/**
 * `cut`: the capture kept only the frame's first bytes on purpose (a header-only ring), so the IP
 * length may run past the frame; the headers must still be whole, and the payload is what was kept.
 */
export function decodeFrame(linkType: string | number, frame: Uint8Array, time: number, iface: string, cut = false): DecodeResult {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const ctx: Context = { frame, view, time, iface, cut };
  const link = linkTypeNumber(linkType);
  const header = link === undefined ? undefined : ethertypeHeader(link, frame, view);
  if (header !== undefined) return 'type' in header ? decodeEthertype(ctx, header.type, header.offset) : header;
  switch (link) {
    case LinkType.RAW:
      if (frame.length < 1) return fail('truncated-link');
      return decodeByVersion(ctx, 0);
    case LinkType.NULL:
    case LinkType.LOOP:
      return decodeLoopback(ctx);
    default:
      return fail('unsupported-link');
  }
}

interface Context {
  frame: Uint8Array;
  view: DataView;
  time: number;
  iface: string;
  cut: boolean;
}

function decodeEthertype(ctx: Context, firstType: number, firstOffset: number): DecodeResult {
  const inner = skipVlanTags(ctx.frame, ctx.view, firstType, firstOffset);
  if (!('type' in inner)) return inner;
  if (inner.type === ETHERTYPE_IPV4) return decodeIpv4(ctx, inner.offset);
  if (inner.type === ETHERTYPE_IPV6) return decodeIpv6(ctx, inner.offset);
  return fail('not-ip');
}

/** The ethertype and offset of what follows any 802.1Q/802.1ad tags. */
function skipVlanTags(frame: Uint8Array, view: DataView, firstType: number, firstOffset: number): { type: number; offset: number } | Fail {
  let type = firstType;
  let offset = firstOffset;
  for (let tags = 0; VLAN_ETHERTYPES.has(type); tags++) {
    if (tags === MAX_VLAN_TAGS) return fail('too-many-vlan-tags');
    if (frame.length < offset + 4) return fail('truncated-link');
    type = view.getUint16(offset + 2);
    offset += 4;
  }
  return { type, offset };
}

/** Where the ethertype sits on links that carry one (Ethernet, Linux cooked v1/v2); undefined on others. */
function ethertypeHeader(link: number, frame: Uint8Array, view: DataView): { type: number; offset: number } | Fail | undefined {
  const at = link === LinkType.EN10MB ? { field: 12, length: 14 } : link === LinkType.LINUX_SLL ? { field: 14, length: 16 } : link === LinkType.LINUX_SLL2 ? { field: 0, length: 20 } : undefined;
  if (at === undefined) return undefined;
  if (frame.length < at.length) return fail('truncated-link');
  return { type: view.getUint16(at.field), offset: at.length };
}

/** An IPv4-over-Ethernet ARP message (RFC 826), as the ARP watch needs it. */
export interface ArpPacket {
  /** 1 request, 2 reply. */
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export type ArpDecodeResult = { ok: true; arp: ArpPacket } | { ok: false; reason: 'unsupported-link' | 'truncated-link' | 'too-many-vlan-tags' | 'not-arp' | 'truncated-arp' };

const ETHERTYPE_ARP = 0x0806;
const ARP_LENGTH = 28;

/** Decodes one frame carrying ARP for IPv4 over Ethernet; never throws, whatever the bytes. */
export function decodeArpFrame(linkType: string | number, frame: Uint8Array): ArpDecodeResult {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const link = linkTypeNumber(linkType);
  const header = link === undefined ? undefined : ethertypeHeader(link, frame, view);
  if (header === undefined) return { ok: false, reason: 'unsupported-link' };
  const inner = 'type' in header ? skipVlanTags(frame, view, header.type, header.offset) : header;
  if (!('type' in inner)) return { ok: false, reason: inner.reason as 'truncated-link' | 'too-many-vlan-tags' };
  const at = inner.offset;
  if (inner.type !== ETHERTYPE_ARP) return { ok: false, reason: 'not-arp' };
  if (frame.length < at + ARP_LENGTH) return { ok: false, reason: 'truncated-arp' };
  // Hardware Ethernet (1), protocol IPv4, 6-byte and 4-byte addresses: anything else is not IPv4 ARP.
  if (view.getUint16(at) !== 1 || view.getUint16(at + 2) !== ETHERTYPE_IPV4 || frame[at + 4] !== 6 || frame[at + 5] !== 4) return { ok: false, reason: 'not-arp' };
  return {
    ok: true,
    arp: {
      op: view.getUint16(at + 6),
      senderMac: macText(frame, at + 8),
      senderIp: ipv4Text(frame, at + 14),
      targetMac: macText(frame, at + 18),
      targetIp: ipv4Text(frame, at + 24),
    },
  };
}

function macText(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** NULL is host byte order, LOOP network order; accept either so a foreign savefile reads too. */
function decodeLoopback(ctx: Context): DecodeResult {
  if (ctx.frame.length < 4) return fail('truncated-link');
  const le = ctx.view.getUint32(0, true);
  const be = ctx.view.getUint32(0, false);
  if (le === AF_INET || be === AF_INET) return decodeIpv4(ctx, 4);
  if (AF_INET6_VALUES.has(le) || AF_INET6_VALUES.has(be)) return decodeIpv6(ctx, 4);
  return fail('not-ip');
}

function decodeByVersion(ctx: Context, offset: number): DecodeResult {
  const version = ctx.frame[offset]! >> 4;
  if (version === 4) return decodeIpv4(ctx, offset);
  if (version === 6) return decodeIpv6(ctx, offset);
  return fail('not-ip');
}

function decodeIpv4(ctx: Context, start: number): DecodeResult {
  const { frame, view } = ctx;
  if (frame.length < start + 20) return fail('truncated-ipv4');
  const versionIhl = frame[start]!;
  const headerLength = (versionIhl & 0x0f) * 4;
  const totalLength = view.getUint16(start + 2);
  if (versionIhl >> 4 !== 4 || headerLength < 20 || totalLength < headerLength) return fail('bad-ipv4-header');
  if (frame.length < start + totalLength && !ctx.cut) return fail('truncated-ipv4');
  const flagsFragment = view.getUint16(start + 6);
  if ((flagsFragment & 0x1fff) !== 0) return fail('fragment');
  const moreFragments = (flagsFragment & 0x2000) !== 0;
  const proto = frame[start + 9]!;
  const src = ipv4Text(frame, start + 12);
  const dst = ipv4Text(frame, start + 16);
  return decodeTransport(ctx, 4, proto, src, dst, start + headerLength, start + totalLength, moreFragments);
}

function decodeIpv6(ctx: Context, start: number): DecodeResult {
  const { frame, view } = ctx;
  if (frame.length < start + 40) return fail('truncated-ipv6');
  if (frame[start]! >> 4 !== 6) return fail('bad-ipv6-header');
  const payloadLength = view.getUint16(start + 4);
  // Payload length 0 means a jumbogram (RFC 2675); knocks and SPA packets are never that large.
  if (payloadLength === 0) return fail('bad-ipv6-header');
  const end = start + 40 + payloadLength;
  if (frame.length < end && !ctx.cut) return fail('truncated-ipv6');
  // Where headers can be read: the IP bound, or the frame's end if the capture cut it sooner.
  const readable = Math.min(end, frame.length);
  let next = frame[start + 6]!;
  let offset = start + 40;
  let moreFragments = false;
  for (let count = 0; ; count++) {
    if (next === IPPROTO_TCP || next === IPPROTO_UDP) break;
    if (!isWalkableExtension(next)) return fail('not-tcp-udp');
    if (count === MAX_EXTENSION_HEADERS) return fail('too-many-extension-headers');
    if (readable < offset + 8) return fail('truncated-ipv6');
    const headerNext = frame[offset]!;
    let length: number;
    if (next === IPPROTO_FRAGMENT) {
      const offsetFlags = view.getUint16(offset + 2);
      if (offsetFlags >> 3 !== 0) return fail('fragment');
      moreFragments = (offsetFlags & 0x1) !== 0;
      length = 8;
    } else if (next === IPPROTO_AH) {
      length = (frame[offset + 1]! + 2) * 4;
    } else {
      length = (frame[offset + 1]! + 1) * 8;
    }
    if (end < offset + length) return fail('truncated-ipv6');
    next = headerNext;
    offset += length;
  }
  const src = ipv6Text(frame, start + 8);
  const dst = ipv6Text(frame, start + 24);
  return decodeTransport(ctx, 6, next, src, dst, offset, end, moreFragments);
}

function isWalkableExtension(next: number): boolean {
  return (
    next === IPPROTO_HOPOPTS ||
    next === IPPROTO_ROUTING ||
    next === IPPROTO_DSTOPTS ||
    next === IPPROTO_FRAGMENT ||
    next === IPPROTO_AH
  );
}

/** `start`..`end` is the transport segment as the IP header bounds it (never link padding). */
function decodeTransport(
  ctx: Context,
  family: Family,
  protoNumber: number,
  src: string,
  dst: string,
  start: number,
  end: number,
  moreFragments: boolean,
): DecodeResult {
  const { frame, view } = ctx;
  const readable = Math.min(end, frame.length);
  let proto: Proto;
  let tcpFlags = 0;
  let payloadStart: number;
  let payloadEnd = end;
  if (protoNumber === IPPROTO_TCP) {
    if (end < start + 20) return fail(moreFragments ? 'fragment' : 'truncated-tcp');
    if (readable < start + 20) return fail('truncated-tcp');
    const dataOffset = (frame[start + 12]! >> 4) * 4;
    if (dataOffset < 20 || start + dataOffset > end) return fail('bad-tcp-offset');
    proto = 'tcp';
    tcpFlags = frame[start + 13]!;
    payloadStart = start + dataOffset;
  } else if (protoNumber === IPPROTO_UDP) {
    // A first fragment cannot hold the whole datagram: its payload would be a lie.
    if (moreFragments) return fail('fragment');
    if (readable < start + 8) return fail('truncated-udp');
    const udpLength = view.getUint16(start + 4);
    if (udpLength < 8 || start + udpLength > end) return fail('bad-udp-length');
    proto = 'udp';
    payloadStart = start + 8;
    payloadEnd = start + udpLength;
  } else {
    return fail('not-tcp-udp');
  }
  return {
    ok: true,
    packet: {
      family,
      src,
      dst,
      proto,
      srcPort: view.getUint16(start),
      dstPort: view.getUint16(start + 2),
      tcpFlags,
      // Clamped to the frame: a cut frame's payload is the part the capture kept.
      payload: frame.subarray(payloadStart, payloadEnd),
      time: ctx.time,
      iface: ctx.iface,
    },
  };
}

export function ipv4Text(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * RFC 5952 text, the way inet_ntop (glibc, libuv — so nft and Node) writes it: lower-case hex,
 * the first longest run of two or more zero groups as `::`, and a dotted-quad tail for the
 * IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms.
 */
export function ipv6Text(bytes: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff))) {
    return `::${bestLength === 5 ? 'ffff:' : ''}${ipv4Text(bytes, at + 12)}`;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
