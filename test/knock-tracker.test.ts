import { describe, expect, it } from 'vitest';
import type { KnockDoor } from '../src/core/door.js';
import { KnockTracker, type TrackerEvent } from '../src/core/knock-tracker.js';
import { TcpFlag, type KnockPacket, type Proto } from '../src/core/packet.js';

const SERVER = '10.200.0.1';
const isLocal = (dst: string) => dst === SERVER;

function door(name: string, seq: Array<[number, Proto]>, extra: Partial<KnockDoor> = {}): KnockDoor {
  return {
    name,
    sequence: seq.map(([port, proto]) => ({ port, proto })),
    seqTimeoutMs: 10_000,
    tcpFlags: { set: 0, clear: 0 },
    targets: [],
    mode: 'knockd',
    tolerateRepeat: false,
    ...extra,
  };
}

function pkt(src: string, port: number, proto: Proto = 'tcp', time = 0, flags: number = TcpFlag.syn, dst = SERVER): KnockPacket {
  return {
    family: src.includes(':') ? 6 : 4,
    src,
    dst,
    proto,
    srcPort: 40000,
    dstPort: port,
    tcpFlags: proto === 'tcp' ? flags : 0,
    payload: new Uint8Array(),
    time,
    iface: 'eth0',
  };
}

function feed(tracker: KnockTracker, packets: KnockPacket[]): TrackerEvent[] {
  return packets.flatMap((p) => tracker.observe(p, isLocal));
}

const opens = (events: TrackerEvent[]) => events.filter((e) => e.kind === 'open');

const SSH = door('ssh', [[7000, 'tcp'], [8000, 'udp'], [9000, 'tcp']]);
const C = '10.200.0.2';

describe('KnockTracker (knockd semantics)', () => {
  it('opens on the right sequence and reports each stage', () => {
    const events = feed(new KnockTracker([SSH]), [pkt(C, 7000, 'tcp', 0), pkt(C, 8000, 'udp', 10), pkt(C, 9000, 'tcp', 20)]);
    expect(events.map((e) => e.kind)).toEqual(['stage', 'stage', 'stage', 'open']);
    expect(opens(events)).toEqual([{ kind: 'open', door: 'ssh', src: C, family: 4, time: 20, stage: 3 }]);
  });

  it('stays closed when the order is wrong', () => {
    const events = feed(new KnockTracker([SSH]), [pkt(C, 7000), pkt(C, 9000), pkt(C, 8000, 'udp')]);
    expect(opens(events)).toEqual([]);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'reset', reason: 'wrong-knock', stage: 1 }));
  });

  it('ignores ports that are in no sequence (knockd T2)', () => {
    const events = feed(new KnockTracker([SSH]), [pkt(C, 7000), pkt(C, 8000, 'udp'), pkt(C, 5555), pkt(C, 9000)]);
    expect(opens(events)).toHaveLength(1);
  });

  it('resets on a stray knock port mid-sequence and does not restart from it (knockd T3)', () => {
    const other = door('other', [[7100, 'tcp'], [7200, 'tcp']]);
    const tracker = new KnockTracker([SSH, other]);
    const events = feed(tracker, [pkt(C, 7000), pkt(C, 7200), pkt(C, 8000, 'udp'), pkt(C, 9000)]);
    expect(opens(events)).toEqual([]);
  });

  it('resets on a duplicate of the previous knock (knockd T4)', () => {
    const events = feed(new KnockTracker([SSH]), [pkt(C, 7000), pkt(C, 7000), pkt(C, 8000, 'udp'), pkt(C, 9000)]);
    expect(opens(events)).toEqual([]);
  });

  it('stays closed when too slow, and a fresh attempt after the timeout opens', () => {
    const tracker = new KnockTracker([SSH]);
    const slow = feed(tracker, [pkt(C, 7000, 'tcp', 0), pkt(C, 8000, 'udp', 5_000), pkt(C, 9000, 'tcp', 10_001)]);
    expect(opens(slow)).toEqual([]);
    expect(slow).toContainEqual(expect.objectContaining({ kind: 'reset', reason: 'timeout', stage: 2 }));
    const fresh = feed(tracker, [pkt(C, 7000, 'tcp', 20_000), pkt(C, 8000, 'udp', 20_001), pkt(C, 9000, 'tcp', 20_002)]);
    expect(opens(fresh)).toHaveLength(1);
  });

  it('ignores TCP knocks whose flags do not match the door, without resetting', () => {
    const flagged = { ...SSH, tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack } };
    const events = feed(new KnockTracker([flagged]), [
      pkt(C, 7000),
      pkt(C, 7000, 'tcp', 1, TcpFlag.syn | TcpFlag.ack),
      pkt(C, 8000, 'udp', 2),
      pkt(C, 9000, 'tcp', 3, TcpFlag.ack),
      pkt(C, 9000, 'tcp', 4),
    ]);
    expect(opens(events)).toHaveLength(1);
  });

  it('tracks doors that share a prefix in parallel, and several sources independently', () => {
    const a = door('a', [[7000, 'tcp'], [8000, 'tcp']]);
    const b = door('b', [[7000, 'tcp'], [9000, 'tcp']]);
    const tracker = new KnockTracker([a, b]);
    const events = feed(tracker, [pkt(C, 7000), pkt('10.200.0.3', 7000), pkt('10.200.0.3', 8000), pkt(C, 9000)]);
    expect(opens(events).map((e) => [e.door, e.src])).toEqual([
      ['a', '10.200.0.3'],
      ['b', C],
    ]);
  });

  it('opens a single-knock door at once and tracks nothing', () => {
    const tracker = new KnockTracker([door('one', [[6000, 'udp']])]);
    expect(opens(tracker.observe(pkt(C, 6000, 'udp'), isLocal))).toHaveLength(1);
    expect(tracker.stats().tracked).toBe(0);
  });

  it('counts only knocks addressed to this host or to the door target', () => {
    const tracker = new KnockTracker([SSH, door('vip', [[6100, 'tcp'], [6200, 'tcp']], { targets: ['10.200.0.9'] })]);
    const elsewhere = feed(tracker, [pkt(C, 7000, 'tcp', 0, TcpFlag.syn, '10.200.0.7'), pkt(C, 8000, 'udp', 1, 0, '10.200.0.7'), pkt(C, 9000, 'tcp', 2, TcpFlag.syn, '10.200.0.7')]);
    expect(opens(elsewhere)).toEqual([]);
    const vip = feed(tracker, [pkt('10.200.0.4', 6100, 'tcp', 0, TcpFlag.syn, '10.200.0.9'), pkt('10.200.0.4', 6200, 'tcp', 1, TcpFlag.syn, '10.200.0.9')]);
    expect(opens(vip)).toHaveLength(1);
  });

  it('works for IPv6 sources', () => {
    const events = feed(new KnockTracker([SSH]), [pkt('fd00:200::2', 7000, 'tcp', 0, TcpFlag.syn, SERVER), pkt('fd00:200::2', 8000, 'udp'), pkt('fd00:200::2', 9000)]);
    expect(opens(events)).toEqual([expect.objectContaining({ family: 6, src: 'fd00:200::2' })]);
  });

  it('sweep frees timed-out sources', () => {
    const tracker = new KnockTracker([SSH]);
    feed(tracker, [pkt(C, 7000, 'tcp', 0), pkt('10.200.0.3', 7000, 'tcp', 9_000)]);
    expect(tracker.stats().tracked).toBe(2);
    tracker.sweep(10_000);
    expect(tracker.stats().tracked).toBe(1);
  });

  it('a reload drops knocks in progress', () => {
    const tracker = new KnockTracker([SSH]);
    feed(tracker, [pkt(C, 7000), pkt(C, 8000, 'udp')]);
    tracker.setDoors([SSH]);
    expect(opens(feed(tracker, [pkt(C, 9000)]))).toEqual([]);
  });
});

describe('KnockTracker bound', () => {
  // A first knock survives until (bound × 3/4) newer spoofed first knocks have arrived: at the
  // default bound that is ~49,000 packets, far more than arrive between two knocks of a client.
  it('never tracks more sources than its bound under a random-source flood, and a legitimate knock amid it opens', () => {
    const bound = 1_024;
    const tracker = new KnockTracker([SSH], bound);
    let t = 0;
    let opened = 0;
    let next = 0;
    const flood = (n: number) => {
      for (let k = 0; k < n; k++) {
        const i = next++;
        const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        const port = [7000, 8000, 9000][i % 3]!;
        opened += opens(tracker.observe(pkt(src, port, port === 8000 ? 'udp' : 'tcp', t++), isLocal)).length;
        expect(tracker.stats().tracked).toBeLessThanOrEqual(bound);
      }
    };
    flood(50_000);
    const legit = '192.0.2.77';
    const steps: Array<[number, Proto]> = [[7000, 'tcp'], [8000, 'udp'], [9000, 'tcp']];
    const legitOpens: TrackerEvent[] = [];
    for (const [port, proto] of steps) {
      legitOpens.push(...tracker.observe(pkt(legit, port, proto, t++), isLocal));
      flood(bound / 2);
    }
    expect(opens(legitOpens)).toEqual([expect.objectContaining({ src: legit })]);
    expect(opened).toBe(0);
    expect(tracker.stats().tracked).toBe(bound - Math.floor(bound / 4));
    expect(tracker.stats().evicted).toBeGreaterThan(50_000 / 3 - bound);
    // Evicted sources give their attempt slots back: the table never outgrows one slot per tracked source.
    expect(tracker.attemptSlots).toBe(bound);
  });

  it('evicts the sources that knocked least recently, through thousands of evictions, touches and sweeps', () => {
    const bound = 16;
    const firstKnockPool = bound - Math.floor(bound / 4);
    // A FIN to 7000 is caught by the FIN door and seen by the SSH attempt, which ignores it (not its flags).
    const synSsh = { ...SSH, tcpFlags: { set: TcpFlag.syn, clear: 0 } };
    const tracker = new KnockTracker([synSsh, door('fin', [[7000, 'tcp'], [7001, 'tcp']], { tcpFlags: { set: TcpFlag.fin, clear: 0 } })], bound);
    // What the pool should hold, least recently used first.
    const expected: string[] = [];
    const everyone: string[] = [];
    let t = 0;
    for (let i = 0; i < 6_000; i++) {
      if (i % 5 === 4 && expected.length > 0) {
        // A packet the source's attempt sees but does not count: it makes the source recent.
        const src = expected[(i * 7) % expected.length]!;
        expect(tracker.observe(pkt(src, 7000, 'tcp', t++, TcpFlag.fin), isLocal)).toEqual([]);
        expected.splice(expected.indexOf(src), 1);
        expected.push(src);
        continue;
      }
      if (i % 1_000 === 999) expect(tracker.sweep(t)).toEqual([]);
      const src = `10.1.${i >> 8}.${i & 255}`;
      everyone.push(src);
      tracker.observe(pkt(src, 7000, 'tcp', t++), isLocal);
      if (expected.length === firstKnockPool) expected.shift();
      expected.push(src);
    }
    const stillTracked = everyone.filter((src) => tracker.observe(pkt(src, 8000, 'udp', t++), isLocal).some((e) => e.kind === 'stage'));
    expect(stillTracked.sort()).toEqual([...expected].sort());
  });

  it('a source knocking on several doors keeps one attempt each, in door order, and frees them as they end', () => {
    const a = door('a', [[7000, 'tcp'], [8000, 'tcp'], [9000, 'tcp']]);
    const b = door('b', [[7000, 'tcp'], [8000, 'tcp'], [9100, 'tcp']], { seqTimeoutMs: 5_000 });
    const tracker = new KnockTracker([a, b], 4);
    const staged = feed(tracker, [pkt(C, 7000, 'tcp', 0), pkt(C, 8000, 'tcp', 1)]);
    expect(staged.map((e) => [e.kind, e.door, e.kind === 'stage' ? e.stage : 0])).toEqual([
      ['stage', 'a', 1],
      ['stage', 'b', 1],
      ['stage', 'a', 2],
      ['stage', 'b', 2],
    ]);
    expect(tracker.sweep(5_000)).toEqual([expect.objectContaining({ kind: 'reset', door: 'b', reason: 'timeout', stage: 2 })]);
    expect(opens(feed(tracker, [pkt(C, 9100, 'tcp', 5_001)]))).toEqual([]);
    expect(tracker.stats().tracked).toBe(0);
    const again = feed(tracker, [pkt(C, 7000, 'tcp', 6_000), pkt(C, 8000, 'tcp', 6_001), pkt(C, 9100, 'tcp', 6_002)]);
    expect(opens(again).map((e) => e.door)).toEqual(['b']);
    expect(again).toContainEqual(expect.objectContaining({ kind: 'reset', door: 'a', reason: 'wrong-knock', stage: 2 }));
    expect(tracker.stats().tracked).toBe(0);
  });
});

describe('KnockTracker strict doors and repeats', () => {
  const strict = { ...SSH, mode: 'strict' as const, tolerateRepeat: true };

  it('an in-order port sweep opens a knockd-mode door but never a strict one (knockd T8)', () => {
    const sweep = (tracker: KnockTracker) =>
      feed(
        tracker,
        Array.from({ length: 2_500 }, (_, i) => 6_900 + i)
          .flatMap((port) => (port === 8000 ? [pkt(C, port, 'tcp', port), pkt(C, port, 'udp', port)] : [pkt(C, port, 'tcp', port)])),
      );
    expect(opens(sweep(new KnockTracker([SSH])))).toHaveLength(1);
    expect(opens(sweep(new KnockTracker([strict])))).toEqual([]);
  });

  it('a strict door resets on any other new connection from the knocking source', () => {
    const events = feed(new KnockTracker([strict]), [pkt(C, 7000), pkt(C, 443), pkt(C, 8000, 'udp'), pkt(C, 9000)]);
    expect(opens(events)).toEqual([]);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'reset', reason: 'wrong-knock', stage: 1 }));
  });

  it('a strict door ignores packets from other sources and TCP packets whose flags the door does not watch', () => {
    const flagged = { ...strict, tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack } };
    const events = feed(new KnockTracker([flagged]), [
      pkt(C, 7000),
      pkt('10.200.0.9', 443),
      pkt(C, 22, 'tcp', 1, TcpFlag.ack),
      pkt(C, 8000, 'udp', 2),
      pkt(C, 9000, 'tcp', 3),
    ]);
    expect(opens(events)).toHaveLength(1);
  });

  it('tolerates a retransmitted copy of the previous knock where the door allows it, and knockd mode does not', () => {
    const retransmitted = [pkt(C, 7000, 'tcp', 0), pkt(C, 7000, 'tcp', 1000), pkt(C, 8000, 'udp', 1001), pkt(C, 8000, 'udp', 1002), pkt(C, 9000, 'tcp', 1003)];
    expect(opens(feed(new KnockTracker([strict]), retransmitted))).toHaveLength(1);
    expect(opens(feed(new KnockTracker([{ ...SSH, tolerateRepeat: true }]), retransmitted))).toHaveLength(1);
    expect(opens(feed(new KnockTracker([SSH]), retransmitted))).toEqual([]);
  });

  it('a repeat of an older knock still resets a tolerant door', () => {
    const events = feed(new KnockTracker([strict]), [pkt(C, 7000), pkt(C, 8000, 'udp'), pkt(C, 7000), pkt(C, 9000)]);
    expect(opens(events)).toEqual([]);
  });
});
