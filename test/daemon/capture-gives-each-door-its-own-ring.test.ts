import { describe, expect, it } from 'vitest';
import type { KnockDoor } from '../../src/core/door.js';
import type { PortSpec } from '../../src/core/packet.js';
import { captureSettings } from '../../src/daemon/door-ports.js';
import { MAX_RINGS_PER_INTERFACE, ringsOf } from '../../src/sensors/pcap.js';

const tcp = (port: number): PortSpec => ({ proto: 'tcp', port });
const udp = (port: number): PortSpec => ({ proto: 'udp', port });
const door = (name: string, ports: PortSpec[], extra: Partial<KnockDoor> = {}): KnockDoor => ({
  name,
  sequence: ports.map((p) => ({ ...p })),
  seqTimeoutMs: 5_000,
  tcpFlags: { set: 0x02, clear: 0x10 },
  targets: [],
  mode: 'knockd',
  tolerateRepeat: true,
  ...extra,
});
const rings = (doors: KnockDoor[], spa: PortSpec[] = []) => {
  const s = captureSettings(doors, spa);
  return ringsOf(s.ports, s.rings, s.newConnections);
};

describe('the capture gives each door, and SPA, a kernel ring of its own', () => {
  it('one ring a door and one for the SPA port, each port in exactly one ring', () => {
    expect(rings([door('a', [tcp(7000), udp(8000), tcp(7000)]), door('b', [tcp(9000), tcp(7000)])], [udp(62201)])).toEqual([[tcp(7000), udp(8000)], [tcp(9000)], [udp(62201)]]);
  });

  it("a time-derived door's accepted steps share the door's ring; a kernel-only door gets none", () => {
    expect(rings([door('t', [tcp(1000)], { variant: 1 }), door('t', [tcp(2000)], { variant: 2 }), door('k', [tcp(3000)], { kernel: true })])).toEqual([[tcp(1000), tcp(2000)]]);
  });

  it(`past ${MAX_RINGS_PER_INTERFACE} rings the rest share the last`, () => {
    const doors = Array.from({ length: MAX_RINGS_PER_INTERFACE + 3 }, (_, i) => door(`d${i}`, [tcp(5000 + i)]));
    const r = rings(doors);
    expect(r).toHaveLength(MAX_RINGS_PER_INTERFACE);
    expect(r.flat()).toHaveLength(doors.length);
    expect(r.at(-1)).toHaveLength(4);
  });

  it('a strict door watches every new connection through one ring for all', () => {
    expect(rings([door('a', [tcp(7000)]), door('s', [tcp(9000)], { mode: 'strict' })], [udp(62201)])).toEqual([[tcp(7000), tcp(9000), udp(62201)]]);
  });

  it('ports in no group still get a ring; nothing watched, no ring', () => {
    expect(ringsOf([tcp(1), tcp(2)], [[tcp(1)]], false)).toEqual([[tcp(1)], [tcp(2)]]);
    expect(ringsOf([], [[], []], false)).toEqual([]);
  });
});
