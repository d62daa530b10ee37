import { describe, expect, it } from 'vitest';
import { decodeFrame, type DecodeResult } from '../src/core/frame-decoder.js';
import { TcpFlag } from '../src/core/packet.js';
import {
  authHeader, ethernet, fragmentHeader, ipv4, ipv6, linuxSll, linuxSll2, nullHeader, optionsHeader, prng, tcp, udp,
} from './fixtures/frames.js';

const SPA = new Uint8Array(120).map((_, i) => i);
const VALID: [string, string, Uint8Array][] = [
  ['Ethernet IPv4 TCP', 'EN10MB', ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', tcp(1, 7000, TcpFlag.syn, new Uint8Array(0), 2), { optionWords: 1 }))],
  ['QinQ IPv6 UDP', 'EN10MB', ethernet(0x86dd, ipv6('fd00::1', 'fd00::2', 17, udp(1, 8000, SPA)), [0x88a8, 0x8100])],
  ['cooked IPv6 ext headers', 'LINUX_SLL', linuxSll(0x86dd, ipv6('fd00::1', 'fd00::2', 17, udp(1, 8000, SPA), [optionsHeader(0), fragmentHeader(0, false), authHeader(), optionsHeader(60, 1)]))],
  ['cooked v2 IPv4 UDP', 'LINUX_SLL2', linuxSll2(0x0800, ipv4('10.0.0.1', '10.0.0.2', udp(1, 8000, SPA), { proto: 17 }))],
  ['raw IPv6 TCP', 'RAW', ipv6('fd00::1', 'fd00::2', 6, tcp(1, 9000, TcpFlag.syn | TcpFlag.ack, SPA))],
  ['NULL IPv4 UDP', 'NULL', nullHeader(2, ipv4('10.0.0.1', '10.0.0.2', udp(1, 8000, SPA), { proto: 17 }))],
];
const LINK_TYPES = ['EN10MB', 'LINUX_SLL', 'LINUX_SLL2', 'RAW', 'NULL', 'LOOP'];

/** `cut`: as a header-only capture ring hands a frame it cut short. */
function decodeSafely(linkType: string, frame: Uint8Array, cut = false): DecodeResult {
  let result: DecodeResult | undefined;
  expect(() => (result = decodeFrame(linkType, frame, 0, 'fuzz', cut))).not.toThrow();
  return result!;
}

/** Whatever the decoder accepts must be internally consistent: ports in range, payload inside the frame. */
function expectSane(result: DecodeResult, frame: Uint8Array): void {
  if (!result.ok) {
    expect(result.reason).toMatch(/^[a-z0-9-]+$/);
    return;
  }
  const p = result.packet;
  expect(p.srcPort).toBeGreaterThanOrEqual(0);
  expect(p.dstPort).toBeLessThanOrEqual(65_535);
  expect(p.tcpFlags).toBeLessThanOrEqual(0xff);
  expect(p.payload.buffer).toBe(frame.buffer);
  expect(p.payload.byteOffset + p.payload.length).toBeLessThanOrEqual(frame.byteOffset + frame.length);
}

/** Link header and IP version set right, so random bytes reach the IP and transport code too. */
function makePlausible(linkType: string, frame: Uint8Array, version: 4 | 6): void {
  const ethertype = version === 4 ? [0x08, 0x00] : [0x86, 0xdd];
  const ipAt: Record<string, [number, number[], number]> = {
    EN10MB: [12, ethertype, 14],
    LINUX_SLL: [14, ethertype, 16],
    LINUX_SLL2: [0, ethertype, 20],
    RAW: [0, [], 0],
    NULL: [0, [version === 4 ? 2 : 10, 0, 0, 0], 4],
    LOOP: [0, [0, 0, 0, version === 4 ? 2 : 10], 4],
  };
  const [at, link, ip] = ipAt[linkType]!;
  if (frame.length < ip + 1) return;
  frame.set(link, at);
  frame[ip] = version === 4 ? 0x45 : 0x60;
}

describe('frame decoder never throws', () => {
  for (const [name, linkType, frame] of VALID) {
    it(`refuses every truncation of a valid ${name} frame and accepts the whole`, () => {
      expect(decodeSafely(linkType, frame).ok).toBe(true);
      for (let length = 0; length < frame.length; length++) {
        const result = decodeSafely(linkType, frame.slice(0, length));
        expect(result.ok, `${name} cut to ${length} bytes`).toBe(false);
      }
    });
  }

  it('survives 20,000 random frames on every link type', () => {
    const random = prng(0x6b67);
    const reasons = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const frame = new Uint8Array(Math.floor(random() * 200));
      for (let b = 0; b < frame.length; b++) frame[b] = Math.floor(random() * 256);
      const linkType = LINK_TYPES[i % LINK_TYPES.length]!;
      if (random() < 0.5) makePlausible(linkType, frame, random() < 0.5 ? 4 : 6);
      const result = decodeSafely(linkType, frame, random() < 0.5);
      expectSane(result, frame);
      if (!result.ok) reasons.add(result.reason);
    }
    // Nothing threw, and the random bytes reached the IP and transport checks, not just the link.
    expect(reasons).toContain('truncated-ipv4');
    expect(reasons).toContain('truncated-ipv6');
    expect(reasons.size).toBeGreaterThan(5);
  });

  it('survives 20,000 valid frames with random bytes flipped', () => {
    const random = prng(0x5eed);
    const reasons = new Set<string>();
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const [, linkType, original] = VALID[i % VALID.length]!;
      const frame = original.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      const result = decodeSafely(linkType, frame, random() < 0.5);
      expectSane(result, frame);
      if (result.ok) accepted++;
      else reasons.add(result.reason);
    }
    // Mutations land in payloads (still valid) and in headers (refused for many reasons).
    expect(accepted).toBeGreaterThan(0);
    expect(reasons.size).toBeGreaterThan(5);
  });
});
