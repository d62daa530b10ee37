import { describe, expect, it } from 'vitest';
import type { KnockDoor } from '../../src/core/door.js';
import { KnockTracker, type TrackerEvent } from '../../src/core/knock-tracker.js';
import { TcpFlag, type KnockPacket, type Proto } from '../../src/core/packet.js';

/**
 * knockd captures a packet only when some door's own filter takes it (its knock ports, its
 * target, its tcpflags), and then applies it to the source's attempts. So a knock that no door
 * would count neither advances nor resets anyone — the tracker must agree, door by door.
 */

const SERVER = '10.200.0.1';
const C = '10.200.0.2';
const isLocal = (dst: string) => dst === SERVER;
const flags = (set: number, clear = 0) => ({ set, clear });

function door(name: string, seq: Array<[number, Proto]>, extra: Partial<KnockDoor> = {}): KnockDoor {
  return { name, sequence: seq.map(([port, proto]) => ({ port, proto })), seqTimeoutMs: 10_000, tcpFlags: { set: 0, clear: 0 }, targets: [], mode: 'knockd', tolerateRepeat: false, ...extra };
}

function pkt(port: number, proto: Proto = 'tcp', tcpFlags: number = TcpFlag.syn, dst = SERVER): KnockPacket {
  return { family: 4, src: C, dst, proto, srcPort: 40000, dstPort: port, tcpFlags: proto === 'tcp' ? tcpFlags : 0, payload: new Uint8Array(), time: 0, iface: 'eth0' };
}

const opened = (tracker: KnockTracker, packets: KnockPacket[]): string[] =>
  packets.flatMap((p) => tracker.observe(p, isLocal)).filter((e): e is Extract<TrackerEvent, { kind: 'open' }> => e.kind === 'open').map((e) => e.door);

const SYN_DOOR = door('syn', [[7000, 'tcp'], [7001, 'tcp'], [7002, 'tcp']], { tcpFlags: flags(TcpFlag.syn) });
const FIN_DOOR = door('fin', [[8000, 'tcp'], [8001, 'tcp'], [8002, 'tcp']], { tcpFlags: flags(TcpFlag.fin) });
const UDP_DOOR = door('udp', [[9000, 'udp'], [9001, 'udp'], [9002, 'udp']]);

describe('a knock counts only for doors that would catch it', () => {
  it('a SYN to a FIN-only door\'s port neither counts for nor resets a SYN door', () => {
    expect(opened(new KnockTracker([SYN_DOOR, FIN_DOOR]), [pkt(7000), pkt(8000), pkt(7001), pkt(8001), pkt(7002)])).toEqual(['syn']);
  });

  it('a FIN the FIN door catches is ignored by the SYN attempt (not its flags) and begins nothing', () => {
    const tracker = new KnockTracker([SYN_DOOR, FIN_DOOR]);
    expect(opened(tracker, [pkt(7000), pkt(8000, 'tcp', TcpFlag.fin), pkt(8001, 'tcp', TcpFlag.fin), pkt(8002, 'tcp', TcpFlag.fin), pkt(7001), pkt(7002)])).toEqual(['syn']);
  });

  it('a UDP door ignores a TCP packet that no door would catch, and resets on one a flag-less TCP door catches', () => {
    expect(opened(new KnockTracker([UDP_DOOR, FIN_DOOR]), [pkt(9000, 'udp'), pkt(8000), pkt(9001, 'udp'), pkt(9002, 'udp')])).toEqual(['udp']);
    const anyFlags = door('tcp', [[8000, 'tcp'], [8001, 'tcp']]);
    expect(opened(new KnockTracker([UDP_DOOR, anyFlags]), [pkt(9000, 'udp'), pkt(8000), pkt(9001, 'udp'), pkt(9002, 'udp')])).toEqual([]);
  });

  it('tcpflags apply to TCP only: a UDP knock another door catches resets a SYN door', () => {
    expect(opened(new KnockTracker([SYN_DOOR, UDP_DOOR]), [pkt(7000), pkt(9001, 'udp'), pkt(7001), pkt(7002)])).toEqual([]);
  });

  it('a knock to another door\'s port sent where that door does not listen is not seen', () => {
    const remote = door('remote', [[7100, 'tcp'], [7101, 'tcp']], { targets: ['10.200.9.9'] });
    const local = door('local', [[7200, 'tcp'], [7201, 'tcp']]);
    // 7200 sent to the remote target: the local door only catches its ports at local addresses.
    expect(opened(new KnockTracker([remote, local]), [pkt(7100, 'tcp', TcpFlag.syn, '10.200.9.9'), pkt(7200, 'tcp', TcpFlag.syn, '10.200.9.9'), pkt(7101, 'tcp', TcpFlag.syn, '10.200.9.9')])).toEqual(['remote']);
  });
});
