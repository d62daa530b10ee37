import { describe, expect, it } from 'vitest';
import { SocketAddress } from 'node:net';
import { decodeFrame, ipv6Text, LinkType, MAX_EXTENSION_HEADERS, MAX_VLAN_TAGS, type DecodeResult } from '../src/core/frame-decoder.js';
import { TcpFlag, type KnockPacket } from '../src/core/packet.js';
import {
  authHeader, bytes, ethernet, fragmentHeader, ipv4, ipv6, ipv6Bytes, linuxSll, linuxSll2, nullHeader, optionsHeader, prng, tcp, udp,
} from './fixtures/frames.js';

const SYN = tcp(40000, 7000, TcpFlag.syn);
const SPA = new TextEncoder().encode('spa-payload-bytes');
const V4_SYN = ipv4('10.200.0.2', '10.200.0.1', SYN);
const V4_UDP = ipv4('10.200.0.2', '10.200.0.1', udp(40001, 62201, SPA), { proto: 17 });
const V6_SYN = ipv6('fd00:200::2', 'fd00:200::1', 6, SYN);

function packetOf(result: DecodeResult): KnockPacket {
  if (!result.ok) throw new Error(`expected a packet, got ${result.reason}`);
  return result.packet;
}

function reasonOf(result: DecodeResult): string {
  if (result.ok) throw new Error(`expected a failure, got a packet to ${result.packet.dstPort}`);
  return result.reason;
}

describe('frame decoder reads every supported link type', () => {
  const cases: [string, string | number, Uint8Array][] = [
    ['Ethernet', 'EN10MB', ethernet(0x0800, V4_SYN)],
    ["cap's ETHERNET", 'ETHERNET', ethernet(0x0800, V4_SYN)],
    ['Ethernet by DLT number', 1, ethernet(0x0800, V4_SYN)],
    ['802.1Q', 'EN10MB', ethernet(0x0800, V4_SYN, [0x8100])],
    ['802.1ad QinQ', 'EN10MB', ethernet(0x0800, V4_SYN, [0x88a8, 0x8100])],
    ['Linux cooked', 'LINUX_SLL', linuxSll(0x0800, V4_SYN)],
    ["cap's cooked", 'LINKTYPE_LINUX_SLL', linuxSll(0x0800, V4_SYN)],
    ['Linux cooked v2', 'LINUX_SLL2', linuxSll2(0x0800, V4_SYN)],
    ['Linux cooked v2 by number', 276, linuxSll2(0x0800, V4_SYN)],
    ['raw IP', 'RAW', V4_SYN],
    ['raw IP, savefile number', 101, V4_SYN],
    ['BSD loopback NULL', 'NULL', nullHeader(2, V4_SYN)],
    ['OpenBSD LOOP', LinkType.LOOP, nullHeader(2, V4_SYN, true)],
  ];
  for (const [name, linkType, frame] of cases) {
    it(`IPv4 TCP SYN over ${name}`, () => {
      const p = packetOf(decodeFrame(linkType, frame, 1234, 'eth0'));
      expect(p).toMatchObject({ family: 4, src: '10.200.0.2', dst: '10.200.0.1', proto: 'tcp', srcPort: 40000, dstPort: 7000, tcpFlags: TcpFlag.syn, time: 1234, iface: 'eth0' });
      expect(p.payload.length).toBe(0);
    });
  }

  const v6cases: [string, string | number, Uint8Array][] = [
    ['Ethernet', 'EN10MB', ethernet(0x86dd, V6_SYN)],
    ['802.1Q', 'EN10MB', ethernet(0x86dd, V6_SYN, [0x8100])],
    ['Linux cooked', 'LINUX_SLL', linuxSll(0x86dd, V6_SYN)],
    ['Linux cooked v2', 'LINUX_SLL2', linuxSll2(0x86dd, V6_SYN)],
    ['raw IP', 'RAW', V6_SYN],
    ['NULL with Linux AF_INET6', 'NULL', nullHeader(10, V6_SYN)],
    ['NULL with macOS AF_INET6', 'NULL', nullHeader(30, V6_SYN)],
    ['LOOP with FreeBSD AF_INET6', 'LOOP', nullHeader(28, V6_SYN, true)],
  ];
  for (const [name, linkType, frame] of v6cases) {
    it(`IPv6 TCP SYN over ${name}`, () => {
      const p = packetOf(decodeFrame(linkType, frame, 5, 'wg0'));
      expect(p).toMatchObject({ family: 6, src: 'fd00:200::2', dst: 'fd00:200::1', proto: 'tcp', dstPort: 7000, tcpFlags: TcpFlag.syn });
    });
  }

  it('refuses link types it does not know, and non-IP ethertypes', () => {
    expect(reasonOf(decodeFrame('IEEE802_11_RADIO', ethernet(0x0800, V4_SYN), 0, 'x'))).toBe('unsupported-link');
    expect(reasonOf(decodeFrame(147, V4_SYN, 0, 'x'))).toBe('unsupported-link');
    expect(reasonOf(decodeFrame('EN10MB', ethernet(0x0806, new Uint8Array(28)), 0, 'x'))).toBe('not-ip');
    expect(reasonOf(decodeFrame('RAW', bytes([0x50], V4_SYN.subarray(1)), 0, 'x'))).toBe('not-ip');
    expect(reasonOf(decodeFrame('NULL', nullHeader(7, V4_SYN), 0, 'x'))).toBe('not-ip');
  });

  it(`stops at ${MAX_VLAN_TAGS} VLAN tags`, () => {
    const deep = ethernet(0x0800, V4_SYN, new Array(MAX_VLAN_TAGS + 1).fill(0x8100));
    expect(reasonOf(decodeFrame('EN10MB', deep, 0, 'x'))).toBe('too-many-vlan-tags');
  });
});

describe('frame decoder: IPv4', () => {
  it('hands UDP payload as a view bounded by the IP length, not by Ethernet padding', () => {
    const frame = bytes(ethernet(0x0800, V4_UDP), new Array(20).fill(0xee));
    const p = packetOf(decodeFrame('EN10MB', frame, 0, 'eth0'));
    expect(p).toMatchObject({ proto: 'udp', srcPort: 40001, dstPort: 62201, tcpFlags: 0 });
    expect(new TextDecoder().decode(p.payload)).toBe('spa-payload-bytes');
    expect(p.payload.buffer).toBe(frame.buffer);
  });

  it('skips IPv4 options and TCP options, keeping the TCP payload', () => {
    const segment = tcp(1, 22, TcpFlag.psh | TcpFlag.ack, new Uint8Array([9, 8, 7]), 3);
    const p = packetOf(decodeFrame('RAW', ipv4('192.0.2.1', '192.0.2.2', segment, { optionWords: 2 }), 0, 'x'));
    expect(p).toMatchObject({ dstPort: 22, tcpFlags: TcpFlag.psh | TcpFlag.ack });
    expect([...p.payload]).toEqual([9, 8, 7]);
  });

  it('keeps the whole flags byte, ECE and CWR included', () => {
    expect(packetOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', tcp(1, 2, 0xc2)), 0, 'x')).tcpFlags).toBe(0xc2);
  });

  it('refuses non-first fragments, and first fragments of UDP whose payload is incomplete', () => {
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', SYN, { fragmentField: 185 }), 0, 'x'))).toBe('fragment');
    const firstUdp = ipv4('1.2.3.4', '5.6.7.8', udp(1, 2, SPA), { proto: 17, fragmentField: 0x2000 });
    expect(reasonOf(decodeFrame('RAW', firstUdp, 0, 'x'))).toBe('fragment');
    const firstTcp = packetOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', SYN, { fragmentField: 0x2000 }), 0, 'x'));
    expect(firstTcp.dstPort).toBe(7000);
  });

  it('refuses bad header lengths and lengths beyond the capture', () => {
    const badIhl = V4_SYN.slice();
    badIhl[0] = 0x44;
    expect(reasonOf(decodeFrame('RAW', badIhl, 0, 'x'))).toBe('bad-ipv4-header');
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', SYN, { totalLength: 19 }), 0, 'x'))).toBe('bad-ipv4-header');
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', SYN, { totalLength: 41 }), 0, 'x'))).toBe('truncated-ipv4');
  });

  it('refuses TCP data offsets outside the segment and UDP lengths outside the datagram', () => {
    const shortOffset = SYN.slice();
    shortOffset[12] = 4 << 4;
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', shortOffset), 0, 'x'))).toBe('bad-tcp-offset');
    const longOffset = SYN.slice();
    longOffset[12] = 15 << 4;
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', longOffset), 0, 'x'))).toBe('bad-tcp-offset');
    for (const lengthField of [7, 8 + SPA.length + 1]) {
      const frame = ipv4('1.2.3.4', '5.6.7.8', udp(1, 2, SPA, lengthField), { proto: 17 });
      expect(reasonOf(decodeFrame('RAW', frame, 0, 'x'))).toBe('bad-udp-length');
    }
  });

  it('refuses protocols other than TCP and UDP', () => {
    expect(reasonOf(decodeFrame('RAW', ipv4('1.2.3.4', '5.6.7.8', new Uint8Array(8), { proto: 1 }), 0, 'x'))).toBe('not-tcp-udp');
  });
});

describe('frame decoder: IPv6 extension headers', () => {
  const payload = udp(5000, 8000, SPA);

  it('walks hop-by-hop, routing, destination options, atomic fragment and AH to reach UDP', () => {
    const chain = [optionsHeader(0), optionsHeader(43, 1), optionsHeader(60, 2), fragmentHeader(0, false), authHeader()];
    const p = packetOf(decodeFrame('RAW', ipv6('2001:db8::1', '2001:db8::2', 17, payload, chain), 0, 'x'));
    expect(p).toMatchObject({ family: 6, proto: 'udp', dstPort: 8000 });
    expect(new TextDecoder().decode(p.payload)).toBe('spa-payload-bytes');
  });

  it('refuses non-first fragments and incomplete first UDP fragments', () => {
    expect(reasonOf(decodeFrame('RAW', ipv6('::1', '::2', 17, payload, [fragmentHeader(10, false)]), 0, 'x'))).toBe('fragment');
    expect(reasonOf(decodeFrame('RAW', ipv6('::1', '::2', 17, payload, [fragmentHeader(0, true)]), 0, 'x'))).toBe('fragment');
  });

  it(`gives up after ${MAX_EXTENSION_HEADERS} extension headers`, () => {
    const atLimit = new Array(MAX_EXTENSION_HEADERS).fill(0).map(() => optionsHeader(60));
    expect(packetOf(decodeFrame('RAW', ipv6('::1', '::2', 17, payload, atLimit), 0, 'x')).dstPort).toBe(8000);
    const overLimit = [...atLimit, optionsHeader(60)];
    expect(reasonOf(decodeFrame('RAW', ipv6('::1', '::2', 17, payload, overLimit), 0, 'x'))).toBe('too-many-extension-headers');
  });

  it('refuses an extension header that runs past the payload length, ESP, and jumbograms', () => {
    const frame = ipv6('::1', '::2', 17, payload, [optionsHeader(0, 30)]);
    expect(reasonOf(decodeFrame('RAW', frame.subarray(0, 40 + 8 + 16), 0, 'x'))).toBe('truncated-ipv6');
    expect(reasonOf(decodeFrame('RAW', ipv6('::1', '::2', 50, new Uint8Array(16)), 0, 'x'))).toBe('not-tcp-udp');
    expect(reasonOf(decodeFrame('RAW', ipv6('::1', '::2', 17, payload, [], 0), 0, 'x'))).toBe('bad-ipv6-header');
  });
});

describe('address text', () => {
  it('writes IPv6 the way inet_ntop does (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['fe80:0:0:0:0:0:0:abcd', 'fe80::abcd'],
      ['0:0:0:0:0:ffff:c000:201', '::ffff:192.0.2.1'],
      ['0:0:0:0:0:0:c000:201', '::192.0.2.1'],
      ['FD00:200:0:0:0:0:0:1', 'fd00:200::1'],
    ];
    for (const [input, want] of cases) expect(ipv6Text(new Uint8Array(ipv6Bytes(input)), 0)).toBe(want);
  });

  it("agrees with Node's own formatter on 5,000 zero-heavy random addresses", () => {
    const random = prng(5952);
    for (let i = 0; i < 5000; i++) {
      const raw = new Uint8Array(16);
      for (let g = 0; g < 8; g++) {
        const pick = random();
        // Mostly zero groups so that runs, ties and embedded-IPv4 forms all come up.
        const value = pick < 0.55 ? 0 : pick < 0.6 ? 0xffff : Math.floor(random() * 0x10000);
        raw[2 * g] = value >> 8;
        raw[2 * g + 1] = value & 0xff;
      }
      const uncompressed = Array.from({ length: 8 }, (_, g) => ((raw[2 * g]! << 8) | raw[2 * g + 1]!).toString(16)).join(':');
      expect(ipv6Text(raw, 0)).toBe(new SocketAddress({ address: uncompressed, family: 'ipv6' }).address);
    }
  });
});
