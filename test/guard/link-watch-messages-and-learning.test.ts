import { describe, expect, it } from 'vitest';
import { dhcpDiscoverFrame, readDhcpReply } from '../../src/guard/dhcp-message.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, readEthernet, readIpv4Udp, readIpv6Icmp } from '../../src/guard/link-frames.js';
import { readNeighbourAdvert, readRouterAdvert, routerSolicitationFrame } from '../../src/guard/ndp-message.js';
import { LEARNING_WINDOW_MS, NEIGHBOUR_CONFLICT_WINDOW_MS, NeighbourWatch } from '../../src/guard/neighbour-watch.js';
import { containerOf } from '../../src/guard/netns-inventory.js';
import { RogueTable } from '../../src/guard/rogue-table.js';
import type { RogueDhcpFinding } from '../../src/guard/finding.js';

/**
 * The pure parts of the link and neighbour watches with plain values: the probes they send, the
 * answers they read (and what they refuse), how a neighbour's MAC is learnt, when a rogue's
 * finding clears, and how a namespace is named from its processes' cgroup.
 */

const GW = '10.0.0.1';
const REAL = '02:00:00:00:00:01';
const SPOOF = '02:00:00:00:00:66';

describe('probes', () => {
  it('a DHCPDISCOVER: broadcast, from a locally administered MAC, UDP 68 → 67, broadcast flag, and no reply', () => {
    const { frame, xid, clientMac } = dhcpDiscoverFrame();
    const eth = readEthernet(frame)!;
    expect(eth).toMatchObject({ dst: 'ff:ff:ff:ff:ff:ff', src: clientMac, type: ETHERTYPE_IPV4 });
    expect(Number.parseInt(clientMac.slice(0, 2), 16) & 0x03).toBe(0x02);
    const udp = readIpv4Udp(eth.payload)!;
    expect(udp).toMatchObject({ src: '0.0.0.0', dst: '255.255.255.255', srcPort: 68, dstPort: 67 });
    expect(new DataView(udp.payload.buffer, udp.payload.byteOffset).getUint32(4)).toBe(xid);
    expect(readDhcpReply(udp.payload)).toBeUndefined();
  });

  it('a router solicitation: to all routers, hop limit 255, from the unspecified address', () => {
    const eth = readEthernet(routerSolicitationFrame('02:00:00:00:00:09'))!;
    expect(eth).toMatchObject({ dst: '33:33:00:00:00:02', type: ETHERTYPE_IPV6 });
    expect(readIpv6Icmp(eth.payload)).toMatchObject({ src: '::', dst: 'ff02::2', hopLimit: 255, type: 133 });
  });
});

describe('answers', () => {
  const offer = (type: number) => {
    const m = Buffer.alloc(240 + 40);
    m[0] = 2;
    m[1] = 1;
    m.writeUInt32BE(0xdeadbeef, 4);
    m.set([10, 0, 0, 120], 16);
    m.writeUInt32BE(0x63825363, 236);
    m.set([53, 1, type, 54, 4, 10, 0, 0, 66, 3, 4, 10, 0, 0, 66, 6, 8, 10, 0, 0, 66, 1, 1, 1, 1, 51, 4, 0, 0, 14, 16], 240);
    return m;
  };

  it('reads an OFFER and an ACK with their server, router, DNS and lease; not a NAK', () => {
    expect(readDhcpReply(offer(2))).toEqual({
      xid: 0xdeadbeef,
      clientMac: '00:00:00:00:00:00',
      serverId: '10.0.0.66',
      offer: { message: 'offer', yourAddress: '10.0.0.120', router: ['10.0.0.66'], dns: ['10.0.0.66', '1.1.1.1'], leaseSeconds: 3600 },
    });
    expect(readDhcpReply(offer(5))?.offer.message).toBe('ack');
    expect(readDhcpReply(offer(6))).toBeUndefined();
    // An option running past the end is garbage, not a reply.
    expect(readDhcpReply(offer(2).subarray(0, 250))).toBeUndefined();
  });

  it('reads a router advertisement and a neighbour advertisement; refuses a zero-length option', () => {
    const ra = Buffer.alloc(16 + 8 + 32);
    ra[0] = 134;
    ra.writeUInt16BE(1800, 6);
    ra.set([1, 1, 2, 0, 0, 0, 0, 0x66], 16);
    ra.set([3, 4, 64, 0xc0], 24);
    ra.set([0xfd, 0, 0, 0x66], 24 + 16);
    expect(readRouterAdvert(ra)).toEqual({ routerLifetime: 1800, sourceMac: '02:00:00:00:00:66', prefixes: ['fd00:66::/64'], dns: [] });
    const na = Buffer.alloc(24 + 8);
    na[0] = 136;
    na[4] = 0x20;
    na.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    na.set([2, 1, 2, 0, 0, 0, 0, 0x66], 24);
    expect(readNeighbourAdvert(na)).toEqual({ target: 'fd00::1', targetMac: SPOOF, router: false, solicited: false, override: true });
    na[25] = 0;
    expect(readNeighbourAdvert(na)).toBeUndefined();
  });
});

describe('learning a neighbour', () => {
  it('one MAC in the window is learnt; a change after it is arp-changed', () => {
    const w = new NeighbourWatch(4);
    w.setWatched([GW]);
    w.observe(GW, REAL, 'eth0', 0);
    expect(w.findings(LEARNING_WINDOW_MS - 1)).toEqual({ findings: [], learnt: [], probe: [] });
    expect(w.findings(LEARNING_WINDOW_MS).learnt).toEqual([{ ip: GW, mac: REAL }]);
    w.observe(GW, SPOOF, 'eth0', LEARNING_WINDOW_MS + 10);
    expect(w.findings(LEARNING_WINDOW_MS + 20).findings.map((f) => f.kind)).toEqual(['arp-changed', 'arp-conflict']);
  });

  it('two MACs in the window: a conflict without a learnt MAC; once one is left, asked and learnt again', () => {
    const w = new NeighbourWatch(6);
    w.setWatched(['fd00::1']);
    w.observe('fd00::1', SPOOF, 'eth0', 0);
    w.observe('fd00::1', REAL, 'eth0', 5);
    const start = w.findings(LEARNING_WINDOW_MS);
    expect(start.learnt).toEqual([]);
    expect(start.findings).toMatchObject([{ kind: 'ndp-conflict', macs: [SPOOF, REAL] }]);
    expect(start.findings[0]).not.toHaveProperty('learnedMac');
    // The spoofer stops; after the conflict window only the real MAC is left: probe, then learn.
    const later = NEIGHBOUR_CONFLICT_WINDOW_MS + 100;
    expect(w.findings(later)).toEqual({ findings: [], learnt: [], probe: ['fd00::1'] });
    w.observe('fd00::1', REAL, 'eth0', later + 1);
    expect(w.findings(later + LEARNING_WINDOW_MS).learnt).toEqual([{ ip: 'fd00::1', mac: REAL }]);
  });
});

describe('rogue servers', () => {
  const rogue = (server: string): RogueDhcpFinding => ({ family: 'link', kind: 'rogue-dhcp', key: `rogue-dhcp|eth0|${server}`, summary: server, server, mac: SPOOF, iface: 'eth0', offer: { message: 'offer' } });

  it('stands until a probe after its last answer waited its full time with no answer', () => {
    const t = new RogueTable<RogueDhcpFinding>(2_000);
    expect(t.seen(rogue('10.0.0.66'), 100)).toBe(true);
    expect(t.seen(rogue('10.0.0.66'), 200)).toBe(false);
    t.probeSent(1_000);
    expect(t.findings(2_999).map((f) => f.server)).toEqual(['10.0.0.66']);
    // A second probe starts before the first one's wait is over: the first still decides.
    t.probeSent(2_500);
    expect(t.findings(3_000)).toEqual([]);
  });
});

describe('naming a namespace from its cgroup', () => {
  const id = 'a'.repeat(64);
  it.each([
    [`/system.slice/docker-${id}.scope`, `docker:${id.slice(0, 12)}`],
    [`/docker/${id}`, `docker:${id.slice(0, 12)}`],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12345678_1234_1234_1234_123456789abc.slice/cri-containerd-${id}.scope`, `pod:12345678-1234-1234-1234-123456789abc/${id.slice(0, 12)}`],
    [`/system.slice/containerd.service/cri-containerd-${id}.scope`, `containerd:${id.slice(0, 12)}`],
    [`/machine.slice/libpod-${id}.scope/container`, `podman:${id.slice(0, 12)}`],
    ['/user.slice/user-1000.slice/session-3.scope', undefined],
  ])('%s → %s', (cgroup, name) => {
    expect(containerOf(cgroup, '/nonexistent')).toBe(name);
  });
});
