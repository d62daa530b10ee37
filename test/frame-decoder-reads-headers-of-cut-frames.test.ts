import { describe, expect, it } from 'vitest';
import { decodeFrame, type DecodeResult } from '../src/core/frame-decoder.js';
import { TcpFlag, type KnockPacket } from '../src/core/packet.js';
import { HEADER_SNAPLEN_BYTES } from '../src/sensors/pcap.js';
import { authHeader, ethernet, fragmentHeader, ipv4, ipv6, linuxSll, optionsHeader, tcp, udp } from './fixtures/frames.js';

/**
 * A header-only capture ring keeps a packet's first HEADER_SNAPLEN_BYTES: a knock door needs its
 * addresses, ports and flags, not its payload. Told the frame was cut (`cut`), the decoder reads
 * them from a frame shorter than its IP length and hands up the payload that was kept; a frame
 * cut inside its headers is still refused, and a short frame not cut by the capture (a lie in its
 * IP length) is refused as before.
 */

const PAYLOAD = new Uint8Array(600).map((_, i) => i & 0xff);
const FRAMES: [string, string, Uint8Array][] = [
  ['Ethernet IPv4 TCP with options', 'EN10MB', ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', tcp(40000, 7000, TcpFlag.syn, PAYLOAD, 10), { optionWords: 10 }))],
  ['QinQ IPv4 UDP', 'EN10MB', ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', udp(40000, 8000, PAYLOAD), { proto: 17 }), [0x88a8, 0x8100])],
  ['cooked IPv6 UDP behind extension headers', 'LINUX_SLL', linuxSll(0x86dd, ipv6('fd00:200::2', 'fd00:200::1', 17, udp(40000, 8000, PAYLOAD), [optionsHeader(0), fragmentHeader(0, false), authHeader()]))],
  ['Ethernet IPv6 TCP', 'EN10MB', ethernet(0x86dd, ipv6('fd00:200::2', 'fd00:200::1', 6, tcp(40000, 9000, TcpFlag.fin, PAYLOAD)))],
];

function packetOf(result: DecodeResult): KnockPacket {
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.packet;
}

const headersOf = ({ payload: _payload, ...rest }: KnockPacket) => rest;

describe('the frame decoder reads the headers of a frame the capture cut', () => {
  for (const [name, linkType, frame] of FRAMES) {
    it(`${name}: cut at the header snaplen, the same packet with the payload that was kept`, () => {
      const whole = packetOf(decodeFrame(linkType, frame, 7, 'eth0'));
      const kept = frame.slice(0, HEADER_SNAPLEN_BYTES);
      const cut = packetOf(decodeFrame(linkType, kept, 7, 'eth0', true));
      expect(headersOf(cut)).toEqual(headersOf(whole));
      expect(cut.payload.length).toBeGreaterThan(0);
      expect([...cut.payload]).toEqual([...whole.payload.subarray(0, cut.payload.length)]);
      expect(cut.payload.byteOffset + cut.payload.length).toBe(kept.byteOffset + kept.length);
      // Not cut by the capture, the same short frame claims more than it holds.
      expect(decodeFrame(linkType, kept, 7, 'eth0')).toMatchObject({ ok: false, reason: expect.stringMatching(/^truncated-ipv[46]$/) });
    });

    it(`${name}: every shorter cut is refused below the transport header and read from it on`, () => {
      const whole = packetOf(decodeFrame(linkType, frame, 7, 'eth0'));
      const headerEnd = frame.length - whole.payload.length;
      let readFrom: number | undefined;
      for (let length = 0; length <= headerEnd; length++) {
        let result: DecodeResult | undefined;
        expect(() => (result = decodeFrame(linkType, frame.slice(0, length), 7, 'eth0', true))).not.toThrow();
        if (result!.ok) {
          readFrom ??= length;
          expect(headersOf(result!.packet)).toEqual(headersOf(whole));
        } else {
          expect(readFrom, `refused at ${length} bytes after reading at ${readFrom}`).toBeUndefined();
          expect(result!.reason).toMatch(/^truncated-/);
        }
      }
      // Read only once the TCP (20 bytes) or UDP (8) header is whole.
      const transport = whole.proto === 'tcp' ? 20 : 8;
      expect(readFrom).toBeLessThanOrEqual(headerEnd);
      expect(readFrom).toBeGreaterThanOrEqual(transport + 20);
    });
  }
});
