import { describe, expect, it } from 'vitest';
import type { KnockDoor } from '../../src/core/door.js';
import { KnockTracker, type TrackerEvent } from '../../src/core/knock-tracker.js';
import { TcpFlag, type KnockPacket } from '../../src/core/packet.js';

/**
 * knockd looks a knock up among the source's attempts whose door listens at the packet's
 * destination (its Target, or the local addresses); only when there is none does the knock
 * begin new attempts. So a door with a Target and a door without one can be knocked interleaved
 * by the same source, while two doors at the same address still end each other's attempts.
 */

const SERVER = '10.200.0.1';
const SECOND = '10.200.0.101';
const BEHIND = '10.200.9.9';
const C = '10.200.0.2';
const isLocal = (dst: string) => dst === SERVER || dst === SECOND;

function door(name: string, ports: number[], targets: string[] = []): KnockDoor {
  return { name, sequence: ports.map((port) => ({ port, proto: 'tcp' as const })), seqTimeoutMs: 10_000, tcpFlags: { set: 0, clear: 0 }, targets, mode: 'knockd', tolerateRepeat: false };
}

const pkt = (port: number, dst: string, time = 0): KnockPacket => ({ family: 4, src: C, dst, proto: 'tcp', srcPort: 40000, dstPort: port, tcpFlags: TcpFlag.syn, payload: new Uint8Array(), time, iface: 'eth0' });

const opened = (tracker: KnockTracker, packets: KnockPacket[]): string[] =>
  packets.flatMap((p) => tracker.observe(p, isLocal)).filter((e): e is Extract<TrackerEvent, { kind: 'open' }> => e.kind === 'open').map((e) => e.door);

describe('doors with a target are tracked beside local ones', () => {
  for (const target of [BEHIND, SECOND]) {
    it(`a target door (${target === BEHIND ? 'a host behind' : 'a second local address'}) knocked first, then a local door interleaved: both open`, () => {
      const tracker = new KnockTracker([door('target', [7000, 7001, 7002], [target]), door('local', [8000, 8001, 8002])]);
      expect(opened(tracker, [pkt(7000, target), pkt(8000, SERVER), pkt(8001, SERVER), pkt(8002, SERVER), pkt(7001, target), pkt(7002, target)])).toEqual(['local', 'target']);
    });
  }

  it('a local door knocked first, then a door whose target is a host behind, interleaved: both open', () => {
    const tracker = new KnockTracker([door('target', [7000, 7001, 7002], [BEHIND]), door('local', [8000, 8001, 8002])]);
    expect(opened(tracker, [pkt(8000, SERVER), pkt(7000, BEHIND), pkt(7001, BEHIND), pkt(7002, BEHIND), pkt(8001, SERVER), pkt(8002, SERVER)])).toEqual(['target', 'local']);
  });

  it('a local door in progress sees knocks to a second local address, so a target door there cannot begin meanwhile, as in knockd', () => {
    const tracker = new KnockTracker([door('target', [7000, 7001, 7002], [SECOND]), door('local', [8000, 8001, 8002])]);
    expect(opened(tracker, [pkt(8000, SERVER), pkt(7000, SECOND), pkt(7001, SECOND), pkt(7002, SECOND)])).toEqual([]);
  });

  it('a local door knocked at the target\'s address while the target door is in progress ends that attempt, as in knockd', () => {
    const t = door('target', [7000, 7001, 7002], [SECOND]);
    const l = door('local', [8000, 8001, 8002]);
    expect(opened(new KnockTracker([t, l]), [pkt(7000, SECOND), pkt(8000, SECOND), pkt(8001, SECOND), pkt(8002, SECOND), pkt(7001, SECOND), pkt(7002, SECOND)])).toEqual([]);
  });

  it('two doors at the same address still end each other: a first knock of another door mid-sequence begins nothing', () => {
    expect(opened(new KnockTracker([door('a', [7000, 7001, 7002]), door('b', [8000, 8001])]), [pkt(7000, SERVER), pkt(8000, SERVER), pkt(8001, SERVER)])).toEqual([]);
  });
});
