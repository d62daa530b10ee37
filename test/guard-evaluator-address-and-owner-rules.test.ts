import { describe, expect, it } from 'vitest';
import type { OwnerSpec, PortExpectation } from '../src/config/model.js';
import type { PortFinding } from '../src/guard/finding.js';
import { evaluatePorts, MAX_FINDINGS, mismatches } from '../src/guard/port-evaluator.js';
import type { Listener, SocketOwner } from '../src/guard/socket-table.js';

/**
 * The evaluator's rules with plain values: which bound addresses a declared address covers
 * (wildcards, families, v4-mapped, a `::` whose V6ONLY /proc cannot show), every finding kind,
 * and each owner check alone and combined.
 */

const SSHD: SocketOwner = { pid: 100, comm: 'sshd', euid: 0, exe: '/usr/sbin/sshd', cgroup: '/system.slice/ssh.service' };
const EVIL: SocketOwner = { pid: 666, comm: 'python3', euid: 1000, exe: '/usr/bin/python3', cgroup: '/user.slice/user-1000.slice/session-3.scope' };

let inode = 1_000;
function listener(address: string, port: number, owners: SocketOwner[], extra: Partial<Listener> = {}): Listener {
  return { proto: 'tcp', family: address.includes(':') ? 6 : 4, address, port, uid: owners[0]?.euid ?? 0, inode: inode++, state: 'listen', owners, ...extra };
}

function expectation(owner: OwnerSpec, extra: Partial<PortExpectation> = {}): PortExpectation {
  return { name: 'ssh', proto: 'tcp', port: 22, owner, mustListen: true, enforce: false, shared: false, ...extra };
}

const evaluate = (es: PortExpectation[], ls: Listener[], reportUnexpected = false) => evaluatePorts(es, ls, { reportUnexpected });
const kinds = (fs: PortFinding[]) => fs.map((f) => f.kind);

describe('which bound addresses a declared address covers', () => {
  // Each row: the expectation's address, the address a foreign socket on its port is bound to,
  // and whether that socket receives traffic for the declared address (so is `preempted`).
  const rows: Array<[declared: string | undefined, bound: string, covered: boolean]> = [
    [undefined, '0.0.0.0', true],
    [undefined, '::', true],
    [undefined, '10.0.0.9', true],
    [undefined, 'fd00::9', true],
    ['10.0.0.1', '10.0.0.1', true],
    ['10.0.0.1', '0.0.0.0', true],
    ['10.0.0.1', '10.0.0.2', false],
    ['10.0.0.1', '127.0.0.1', false],
    // `::` may be dual-stack; /proc cannot say it is V6ONLY, so it counts for IPv4 too.
    ['10.0.0.1', '::', true],
    ['0.0.0.0', '::', true],
    ['0.0.0.0', '10.0.0.7', true],
    ['0.0.0.0', '::ffff:10.0.0.7', true],
    // A wildcard declares the port on every address of both families: a stranger on a specific
    // IPv6 address beside a service on 0.0.0.0 takes that address's clients.
    ['0.0.0.0', 'fd00::1', true],
    ['0.0.0.0', '::1', true],
    ['10.0.0.1', '::ffff:10.0.0.1', true],
    ['10.0.0.1', '::ffff:10.0.0.2', false],
    ['::ffff:10.0.0.1', '10.0.0.1', true],
    ['::ffff:10.0.0.1', '0.0.0.0', true],
    ['::', '0.0.0.0', true],
    ['::', '10.0.0.1', true],
    ['::', 'fd00::1', true],
    ['fd00::1', 'fd00::1', true],
    ['fd00::1', '::', true],
    ['fd00::1', 'fd00::2', false],
    ['fd00::1', '0.0.0.0', false],
    ['fd00::1', '10.0.0.1', false],
    ['::1', '127.0.0.1', false],
  ];
  it.each(rows)('declared %s, bound %s: covered = %s', (declared, bound, covered) => {
    const e = expectation({ uid: 0 }, declared === undefined ? {} : { address: declared });
    const foreign = listener(bound, 22, [EVIL]);
    const found = evaluate([e], [foreign]);
    if (covered) {
      expect(kinds(found)).toEqual(['preempted']);
      expect(found[0]!.sockets).toEqual([foreign]);
    } else {
      // Nothing covers the declared address: the service is missing, the other socket is not its business.
      expect(kinds(found)).toEqual(['missing']);
    }
  });

  it('a socket on another port or protocol is neither preempting nor listening', () => {
    const found = evaluate([expectation({ uid: 0 })], [listener('0.0.0.0', 2222, [EVIL]), listener('0.0.0.0', 22, [EVIL], { proto: 'udp' })]);
    expect(kinds(found)).toEqual(['missing']);
  });

  it('a family gap: the service on 0.0.0.0, a stranger on [::] (maybe V6ONLY) is preempted', () => {
    const found = evaluate([expectation({ exe: '/usr/sbin/sshd' })], [listener('0.0.0.0', 22, [SSHD]), listener('::', 22, [EVIL])]);
    expect(kinds(found)).toEqual(['preempted']);
    expect(found[0]!.sockets).toMatchObject([{ address: '::', owners: [EVIL] }]);
  });
});

describe('owner checks', () => {
  const matches = (owner: OwnerSpec, l: Listener) => mismatches(owner, l).length === 0;
  const sshd = () => listener('0.0.0.0', 22, [SSHD], { uid: 0 });
  const evil = () => listener('0.0.0.0', 22, [EVIL], { uid: 1000 });

  it('each field alone: the service matches, the stranger fails that field', () => {
    const fields: OwnerSpec[] = [{ unit: 'ssh.service' }, { cgroup: '/system.slice/ssh.service' }, { cgroup: '/system.slice' }, { exe: '/usr/sbin/sshd' }, { uid: 0 }];
    for (const owner of fields) {
      expect(matches(owner, sshd()), JSON.stringify(owner)).toBe(true);
      expect(mismatches(owner, evil()), JSON.stringify(owner)).toHaveLength(1);
    }
    expect(mismatches({ unit: 'ssh.service' }, evil())[0]).toMatch(/pid 666 is in cgroup \/user\.slice.*not unit ssh\.service/);
    expect(mismatches({ cgroup: '/system.slice/ssh.service' }, evil())[0]).toMatch(/expected \/system\.slice\/ssh\.service/);
    expect(mismatches({ exe: '/usr/sbin/sshd' }, evil())[0]).toBe('pid 666 runs /usr/bin/python3, expected /usr/sbin/sshd');
    expect(mismatches({ uid: 0 }, evil())[0]).toBe('socket uid 1000, expected 0');
  });

  it('a cgroup matches itself and below, not a sibling that shares its prefix', () => {
    expect(matches({ cgroup: '/system.slice/ssh.service' }, listener('0.0.0.0', 22, [{ ...SSHD, cgroup: '/system.slice/ssh.service/workers' }]))).toBe(true);
    expect(matches({ cgroup: '/system.slice/ssh.service' }, listener('0.0.0.0', 22, [{ ...SSHD, cgroup: '/system.slice/ssh.service2' }]))).toBe(false);
    expect(matches({ unit: 'ssh.service' }, listener('0.0.0.0', 22, [{ ...SSHD, cgroup: '/system.slice/ssh.service.d' }]))).toBe(false);
  });

  it('any combination: every given field must match, and each failure is a reason', () => {
    const all: OwnerSpec = { unit: 'ssh.service', cgroup: '/system.slice/ssh.service', exe: '/usr/sbin/sshd', uid: 0 };
    expect(matches(all, sshd())).toBe(true);
    expect(mismatches(all, evil())).toHaveLength(4);
    // Right exe and uid, wrong cgroup: the stranger ran the real binary from its own session.
    const copycat = listener('0.0.0.0', 22, [{ ...EVIL, exe: '/usr/sbin/sshd', euid: 0 }], { uid: 0 });
    expect(mismatches({ exe: '/usr/sbin/sshd', uid: 0 }, copycat)).toEqual([]);
    expect(mismatches(all, copycat)).toHaveLength(2);
    expect(mismatches({ exe: '/usr/sbin/sshd', unit: 'ssh.service' }, copycat)).toEqual([expect.stringMatching(/not unit ssh\.service/)]);
  });

  it('an empty owner accepts anyone', () => {
    expect(matches({}, evil())).toBe(true);
    expect(matches({}, listener('0.0.0.0', 22, []))).toBe(true);
  });

  it('an executable replaced since the process started does not match', () => {
    const replaced = listener('0.0.0.0', 22, [{ ...SSHD, exeDeleted: true }]);
    expect(mismatches({ exe: '/usr/sbin/sshd' }, replaced)).toEqual(['pid 100 runs a deleted or replaced /usr/sbin/sshd']);
    expect(matches({ uid: 0 }, replaced)).toBe(true);
  });

  it('an owner /proc hides fails every process check, but not the socket uid', () => {
    const hidden = listener('0.0.0.0', 22, [], { uid: 0 });
    for (const owner of [{ unit: 'ssh.service' }, { cgroup: '/system.slice' }, { exe: '/usr/sbin/sshd' }]) {
      expect(mismatches(owner, hidden)).toEqual(['owner not visible: no readable process holds the socket']);
    }
    expect(matches({ uid: 0 }, hidden)).toBe(true);
    expect(mismatches({ uid: 0, exe: '/usr/sbin/sshd' }, listener('0.0.0.0', 22, [], { uid: 7 }))).toEqual(['socket uid 7, expected 0', 'owner not visible: no readable process holds the socket']);
  });

  it('unreadable exe or cgroup of a visible process is a mismatch, named as unreadable', () => {
    const blind = listener('0.0.0.0', 22, [{ pid: 5 }]);
    expect(mismatches({ exe: '/usr/sbin/sshd' }, blind)).toEqual(['pid 5 runs (unreadable exe), expected /usr/sbin/sshd']);
    expect(mismatches({ cgroup: '/system.slice' }, blind)).toEqual(['pid 5 is in cgroup (unreadable), expected /system.slice']);
  });

  it('a socket shared after fork: every holder must match', () => {
    const forked = listener('0.0.0.0', 22, [SSHD, { ...SSHD, pid: 101 }]);
    expect(matches({ exe: '/usr/sbin/sshd' }, forked)).toBe(true);
    const leaked = listener('0.0.0.0', 22, [SSHD, EVIL]);
    expect(mismatches({ exe: '/usr/sbin/sshd', unit: 'ssh.service' }, leaked)).toHaveLength(2);
    const found = evaluate([expectation({ exe: '/usr/sbin/sshd' })], [leaked]);
    expect(kinds(found)).toEqual(['preempted']);
    expect(found[0]!.reasons).toEqual(['pid 666 runs /usr/bin/python3, expected /usr/sbin/sshd']);
  });
});

describe('finding kinds', () => {
  it('clean: the expected owner on both families', () => {
    expect(evaluate([expectation({ unit: 'ssh.service', uid: 0 })], [listener('0.0.0.0', 22, [SSHD]), listener('::', 22, [SSHD])], true)).toEqual([]);
  });

  it('missing only when must_listen; whoever listens is still checked when not', () => {
    expect(kinds(evaluate([expectation({ uid: 0 })], []))).toEqual(['missing']);
    expect(evaluate([expectation({ uid: 0 }, { mustListen: false })], [])).toEqual([]);
    expect(kinds(evaluate([expectation({ uid: 0 }, { mustListen: false })], [evilOn('0.0.0.0')]))).toEqual(['preempted']);
    const [missing] = evaluate([expectation({ exe: '/usr/sbin/sshd' }, { address: 'fd00::1' })], []);
    expect(missing).toMatchObject({ kind: 'missing', key: 'missing|ssh', expectation: 'ssh', address: 'fd00::1', sockets: [] });
    expect(missing!.summary).toBe('nobody listens on [fd00::1]:22/tcp (expected exe /usr/sbin/sshd)');
  });

  it('preempted carries the expectation, the owner wanted, the reasons and the socket', () => {
    const socket = evilOn('0.0.0.0');
    const [f] = evaluate([expectation({ exe: '/usr/sbin/sshd', uid: 0 })], [socket]);
    expect(f).toMatchObject({ kind: 'preempted', key: `preempted|ssh|${socket.inode}`, expectation: 'ssh', expected: { exe: '/usr/sbin/sshd', uid: 0 }, sockets: [socket] });
    expect(f!.reasons).toEqual(['socket uid 1000, expected 0', 'pid 666 runs /usr/bin/python3, expected /usr/sbin/sshd']);
    expect(f!.summary).toContain('pid 666 (python3) uid 1000 exe /usr/bin/python3');
  });

  it('co-bound needs no declaration: two processes on one address:port', () => {
    const a = listener('0.0.0.0', 8080, [SSHD]);
    const b = listener('0.0.0.0', 8080, [EVIL]);
    const [f, ...rest] = evaluate([], [a, b]);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ kind: 'co-bound', port: 8080, address: '0.0.0.0', sockets: [a, b], key: `co-bound|tcp|0.0.0.0|8080|${a.inode},${b.inode}` });
  });

  it('co-bound: an IPv6 socket on a v4-mapped address and an IPv4 socket on that address', () => {
    const [f] = evaluate([], [listener('10.0.0.1', 8080, [SSHD]), listener('::ffff:10.0.0.1', 8080, [EVIL])]);
    expect(f).toMatchObject({ kind: 'co-bound', port: 8080, address: '10.0.0.1' });
    expect(f!.sockets.map((l) => l.address)).toEqual(['10.0.0.1', '::ffff:10.0.0.1']);
  });

  it('co-bound: the kernel\'s overlapping lookup, not the address string', () => {
    // A specific address beside the wildcard takes all of that address's traffic.
    const [specific] = evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('10.0.0.1', 8080, [EVIL])]);
    expect(specific).toMatchObject({ kind: 'co-bound', address: '0.0.0.0' });
    expect(specific!.sockets.map((l) => l.address)).toEqual(['0.0.0.0', '10.0.0.1']);
    expect(kinds(evaluate([], [listener('::', 8080, [SSHD]), listener('fd00::1', 8080, [EVIL])]))).toEqual(['co-bound']);
    // A dual-stack [::] (as the kernel says) covers IPv4 too.
    const [dual] = evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('::', 8080, [EVIL], { v6only: false })]);
    expect(dual).toMatchObject({ kind: 'co-bound', address: '::' });
    expect(dual!.summary).toContain('[::]:8080 (dual-stack)');
    // Bound without listening, or a UDP socket connected to one peer, still takes its share.
    expect(kinds(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('0.0.0.0', 8080, [EVIL], { state: 'bound' })]))).toEqual(['co-bound']);
    const udp = { proto: 'udp' as const };
    const [connected] = evaluate([], [listener('0.0.0.0', 53, [SSHD], { ...udp, state: 'unconnected' }), listener('0.0.0.0', 53, [EVIL], { ...udp, state: 'connected', remote: { address: '10.0.0.9', port: 5353 } })]);
    expect(connected!.summary).toContain('connected to 10.0.0.9:5353');
    // Sockets in different namespaces never overlap.
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('0.0.0.0', 8080, [EVIL], { netns: 'web' })])).toEqual([]);
  });

  it('co-bound: owners that cannot be seen count as different holders', () => {
    expect(kinds(evaluate([], [listener('0.0.0.0', 8080, []), listener('0.0.0.0', 8080, [])]))).toEqual(['co-bound']);
  });

  it('not co-bound: one process with a socket per thread, different addresses, families or protocols', () => {
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('0.0.0.0', 8080, [SSHD])])).toEqual([]);
    expect(evaluate([], [listener('10.0.0.2', 8080, [SSHD]), listener('10.0.0.1', 8080, [EVIL])])).toEqual([]);
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('fd00::1', 8080, [EVIL])])).toEqual([]);
    // [::] beside 0.0.0.0: apart when the kernel says v6-only, and when /proc cannot say (no claim on a maybe).
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('::', 8080, [EVIL], { v6only: true })])).toEqual([]);
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('::', 8080, [EVIL])])).toEqual([]);
    expect(evaluate([], [listener('0.0.0.0', 8080, [SSHD]), listener('0.0.0.0', 8080, [EVIL], { proto: 'udp' })])).toEqual([]);
  });

  it('shared: workers of the owner on one port are not co-bound; a stranger among them is', () => {
    const workers = [listener('0.0.0.0', 22, [SSHD]), listener('0.0.0.0', 22, [{ ...SSHD, pid: 101 }]), listener('0.0.0.0', 22, [{ ...SSHD, pid: 102 }])];
    const owner = { unit: 'ssh.service' };
    expect(evaluate([expectation(owner, { shared: true })], workers)).toEqual([]);
    // Without the declaration the same workers are co-bound.
    expect(kinds(evaluate([expectation(owner)], workers))).toEqual(['co-bound']);
    // One co-binder that does not match: co-bound (and preempted) again.
    expect(kinds(evaluate([expectation(owner, { shared: true })], [...workers, evilOn('0.0.0.0')]))).toEqual(['co-bound', 'preempted']);
    // A worker whose owner cannot be seen does not match either.
    expect(kinds(evaluate([expectation(owner, { shared: true })], [...workers, listener('0.0.0.0', 22, [])]))).toEqual(['co-bound', 'preempted']);
  });

  it('shared covers only the addresses its expectation covers, and every covering expectation must allow it', () => {
    const owner = { exe: '/usr/sbin/sshd' };
    const onAll = [listener('0.0.0.0', 22, [SSHD]), listener('0.0.0.0', 22, [{ ...SSHD, pid: 101 }])];
    const onOne = [listener('10.0.0.1', 22, [SSHD]), listener('10.0.0.1', 22, [{ ...SSHD, pid: 101 }])];
    const sharedOnOne = expectation(owner, { shared: true, address: '10.0.0.1' });
    expect(kinds(evaluate([sharedOnOne], onOne))).toEqual([]);
    expect(kinds(evaluate([sharedOnOne, expectation(owner, { name: 'v6', address: 'fd00::1', mustListen: false })], onOne))).toEqual([]);
    // 0.0.0.0 also receives 10.0.0.1's traffic, so the shared expectation covers that group too.
    expect(kinds(evaluate([sharedOnOne], onAll))).toEqual([]);
    expect(kinds(evaluate([expectation(owner, { shared: true, address: '10.0.0.2' })], onOne))).toEqual(['co-bound', 'missing']);
    expect(kinds(evaluate([sharedOnOne, expectation(owner, { name: 'all' })], onOne))).toEqual(['co-bound']);
  });

  it('co-bound on a declared port is reported beside the preempted socket', () => {
    expect(kinds(evaluate([expectation({ exe: '/usr/sbin/sshd' })], [listener('0.0.0.0', 22, [SSHD]), evilOn('0.0.0.0')]))).toEqual(['co-bound', 'preempted']);
  });

  it('unexpected: undeclared ports only when asked, never ephemeral UDP clients', () => {
    const web = listener('0.0.0.0', 8080, [EVIL]);
    const resolver = listener('0.0.0.0', 40000, [EVIL], { proto: 'udp' });
    const tcpHigh = listener('0.0.0.0', 40001, [EVIL]);
    const ls = [listener('0.0.0.0', 22, [SSHD]), web, resolver, tcpHigh];
    const es = [expectation({ exe: '/usr/sbin/sshd' })];
    expect(evaluatePorts(es, ls, { reportUnexpected: false })).toEqual([]);
    const found = evaluatePorts(es, ls, { reportUnexpected: true, ephemeralPorts: { low: 32768, high: 60999 } });
    expect(found.map((f) => [f.kind, f.port])).toEqual([
      ['unexpected', 8080],
      ['unexpected', 40001],
    ]);
    expect(found[0]).toMatchObject({ key: `unexpected|tcp|0.0.0.0|8080|${web.inode}`, sockets: [web] });
    // Without the host's range every UDP socket counts.
    expect(evaluatePorts(es, ls, { reportUnexpected: true }).map((f) => f.port)).toEqual([8080, 40000, 40001]);
  });

  it('a flood of attacker sockets gives at most MAX_FINDINGS findings', () => {
    const flood = Array.from({ length: MAX_FINDINGS + 50 }, (_, i) => listener('0.0.0.0', 1_000 + i, [EVIL]));
    expect(evaluate([], flood, true)).toHaveLength(MAX_FINDINGS);
  });

  it('the same sockets give the same keys on every scan', () => {
    const ls = [listener('0.0.0.0', 22, [SSHD]), evilOn('0.0.0.0')];
    const es = [expectation({ exe: '/usr/sbin/sshd' })];
    expect(evaluate(es, ls).map((f) => f.key)).toEqual(evaluate(es, [...ls].reverse()).map((f) => f.key).sort());
  });
});

function evilOn(address: string): Listener {
  return listener(address, 22, [EVIL], { uid: 1000 });
}
