import { describe, expect, it } from 'vitest';
import { DoorSchedule, spentUntil } from '../src/core/door-schedule.js';
import { MemorySpentSteps } from '../src/store/spent-step-store.js';
import type { KnockDoor } from '../src/core/door.js';
import { KnockTracker } from '../src/core/knock-tracker.js';
import { TcpFlag, type KnockPacket } from '../src/core/packet.js';
import { acceptedCounters, sequenceFor, stepCounter, type TimeSequenceSpec } from '../src/core/time-sequence.js';

const SPEC: TimeSequenceSpec = {
  secret: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
  knocks: 4,
  portMin: 20_000,
  portMax: 40_000,
  stepMs: 30_000,
  skewSteps: 1,
  protocol: 'tcp',
};
const DOOR: KnockDoor = { name: 'totp', sequence: [], seqTimeoutMs: 10_000, tcpFlags: { set: 0, clear: 0 }, targets: [], mode: 'strict', tolerateRepeat: true };
const SRV = '10.200.0.1';

function knockAll(tracker: KnockTracker, src: string, steps: { proto: 'tcp' | 'udp'; port: number }[], t: number) {
  return steps.flatMap((s, i) => {
    const p: KnockPacket = { family: 4, src, dst: SRV, proto: s.proto, srcPort: 40_000, dstPort: s.port, tcpFlags: TcpFlag.syn, payload: new Uint8Array(), time: t + i, iface: 'eth0' };
    return tracker.observe(p, (d) => d === SRV);
  });
}

describe('time-derived sequences', () => {
  it('derives the same distinct, in-range sequence for the same secret and step, and another for the next step', () => {
    const a = sequenceFor(SPEC, 1_000);
    expect(sequenceFor(SPEC, 1_000)).toEqual(a);
    expect(new Set(a.map((s) => s.port)).size).toBe(4);
    for (const s of a) expect(s.port).toBeGreaterThanOrEqual(20_000), expect(s.port).toBeLessThanOrEqual(40_000);
    expect(sequenceFor(SPEC, 1_001)).not.toEqual(a);
    expect(sequenceFor({ ...SPEC, secret: Buffer.alloc(16, 7) }, 1_000)).not.toEqual(a);
  });

  it('keeps knocks distinct even in the narrowest allowed range, and mixes protocols on request', () => {
    for (let c = 0; c < 200; c++) {
      const seq = sequenceFor({ ...SPEC, knocks: 32, portMin: 1000, portMax: 1063 }, c);
      expect(new Set(seq.map((s) => s.port)).size).toBe(32);
    }
    const mixed = Array.from({ length: 50 }, (_, c) => sequenceFor({ ...SPEC, protocol: 'mixed' }, c)).flat();
    expect(new Set(mixed.map((s) => s.proto))).toEqual(new Set(['tcp', 'udp']));
  });

  it('accepts the current step and one either side', () => {
    const now = 30_000 * 500 + 12_345;
    expect(stepCounter(now, 30_000)).toBe(500);
    expect(acceptedCounters(SPEC, now)).toEqual([499, 500, 501]);
  });

  it('opens with this step\'s sequence, not with the last-but-one\'s, and not twice with the same one', () => {
    const now = 30_000 * 700 + 5_000;
    const spent = new MemorySpentSteps(() => now);
    const schedule = new DoorSchedule([{ knock: DOOR, source: { kind: 'time', spec: SPEC } }], spent);
    const tracker = new KnockTracker(schedule.doorsAt(now));
    const opensOf = (events: ReturnType<typeof knockAll>) => events.filter((e) => e.kind === 'open');

    expect(opensOf(knockAll(tracker, '10.200.0.5', sequenceFor(SPEC, 698), now))).toEqual([]);
    const opened = opensOf(knockAll(tracker, '10.200.0.6', sequenceFor(SPEC, 700), now + 100));
    expect(opened).toEqual([expect.objectContaining({ door: 'totp', variant: 700 })]);

    void spent.spend('totp', 700, spentUntil(SPEC, 700), now + 200);
    // Spent until the step leaves the accepted window (700 + skew 1, then one step more).
    expect(spentUntil(SPEC, 700)).toBe(30_000 * 702);
    tracker.setDoors(schedule.doorsAt(now + 200), true);
    expect(opensOf(knockAll(tracker, '10.200.0.7', sequenceFor(SPEC, 700), now + 300))).toEqual([]);
    // The previous step (clock skew) still opens once.
    expect(opensOf(knockAll(tracker, '10.200.0.8', sequenceFor(SPEC, 699), now + 400))).toHaveLength(1);
  });

  it('a step change keeps a knock in progress on a step that is still accepted', () => {
    const t0 = 30_000 * 800 + 29_000;
    const schedule = new DoorSchedule([{ knock: DOOR, source: { kind: 'time', spec: SPEC } }], new MemorySpentSteps());
    const tracker = new KnockTracker(schedule.doorsAt(t0));
    const seq = sequenceFor(SPEC, 800);
    knockAll(tracker, '10.200.0.9', seq.slice(0, 2), t0);
    const t1 = t0 + 2_000;
    expect(schedule.epoch(t1)).not.toBe(schedule.epoch(t0));
    tracker.setDoors(schedule.doorsAt(t1), true);
    const events = knockAll(tracker, '10.200.0.9', seq.slice(2), t1);
    expect(events.filter((e) => e.kind === 'open')).toHaveLength(1);
  });
});

describe('one-time sequences', () => {
  it('uses the first unused line, spends it on open, then the next; exhausted means no door', () => {
    const schedule = new DoorSchedule([
      {
        knock: { ...DOOR, name: 'otp', mode: 'knockd', tolerateRepeat: false },
        source: {
          kind: 'one-time',
          file: '/tmp/x',
          unused: [
            { line: 2, steps: [{ proto: 'tcp', port: 1001 }, { proto: 'tcp', port: 1002 }] },
            { line: 3, steps: [{ proto: 'tcp', port: 2001 }, { proto: 'tcp', port: 2002 }] },
          ],
        },
      },
    ], new MemorySpentSteps());
    expect(schedule.doorsAt(0)).toEqual([expect.objectContaining({ variant: 2, sequence: [{ proto: 'tcp', port: 1001 }, { proto: 'tcp', port: 1002 }] })]);
    expect(schedule.spend('otp', 2)?.kind).toBe('one-time');
    expect(schedule.doorsAt(0)).toEqual([expect.objectContaining({ variant: 3 })]);
    schedule.spend('otp', 3);
    expect(schedule.doorsAt(0)).toEqual([]);
  });
});
