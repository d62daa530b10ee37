import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import { TcpFlag, type PortSpec } from '../src/core/packet.js';
import { buildSensorIfStale, Probe } from './fixtures/pcap-probe-process.js';
import { injectFrame, sendSyn, sendUdp } from './fixtures/lab-traffic.js';
import { ethernet, ipv6, optionsHeader, udp } from './fixtures/frames.js';

const WATCHED: PortSpec[] = [
  { proto: 'tcp', port: 7000 },
  { proto: 'udp', port: 8000 },
  { proto: 'tcp', port: 9000 },
];

const hex = (text: string): string => Buffer.from(text).toString('hex');

describe('pcap sensor on a veth in a lab namespace', () => {
  let lab: Lab;
  let probe: Probe;

  beforeAll(async () => {
    await buildSensorIfStale();
    lab = await createLab({ prefix: 'kgt', extraHosts: 1 });
    probe = Probe.start(lab, lab.server, 'eth0', WATCHED);
    await probe.waitFor((e) => e.event === 'ready', 'ready');
  }, 180_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  /** Packets after `from`, up to (not including) the UDP marker that says the burst is over. */
  async function burstAfter(from: number, marker: string): Promise<Record<string, unknown>[]> {
    await probe.waitFor((e) => e.event === 'packet' && e.payload === hex(marker), `marker ${marker}`);
    const packets = probe.events.slice(from).filter((e) => e.event === 'packet');
    return packets.slice(0, packets.findIndex((p) => p.payload === hex(marker)));
  }

  it('reports its interfaces and local addresses in canonical text', async () => {
    const ready = await probe.waitFor((e) => e.event === 'ready', 'ready');
    expect(ready.interfaces).toEqual(['eth0']);
    expect(ready.addresses).toEqual(expect.arrayContaining([lab.server.ip4, lab.server.ip6]));
  });

  for (const family of [4, 6] as const) {
    it(`reports exactly the watched TCP SYNs and UDP datagrams over IPv${family}`, async () => {
      const server = family === 4 ? lab.server.ip4 : lab.server.ip6;
      const client = family === 4 ? lab.client.ip4 : lab.client.ip6;
      const from = probe.events.length;
      await sendSyn(lab, lab.client, server, 7000);
      await sendSyn(lab, lab.client, server, 7001);
      await sendUdp(lab, lab.client, server, 8000, `knock-v${family}`);
      await sendUdp(lab, lab.client, server, 8001, 'unwatched port');
      await sendUdp(lab, lab.client, server, 7000, 'tcp port over udp');
      await sendSyn(lab, lab.client, server, 8000);
      await sendSyn(lab, lab.client, server, 9000);
      await sendUdp(lab, lab.client, server, 8000, `end-v${family}`);

      const seen = await burstAfter(from, `end-v${family}`);
      const common = { event: 'packet', family, src: client, dst: server, iface: 'eth0' };
      expect(seen).toEqual([
        expect.objectContaining({ ...common, proto: 'tcp', dstPort: 7000, tcpFlags: TcpFlag.syn, payload: '' }),
        expect.objectContaining({ ...common, proto: 'udp', dstPort: 8000, tcpFlags: 0, payload: hex(`knock-v${family}`) }),
        expect.objectContaining({ ...common, proto: 'tcp', dstPort: 9000, tcpFlags: TcpFlag.syn, payload: '' }),
      ]);
      for (const p of seen) {
        expect(p.srcPort).toBeGreaterThan(1023);
        expect(Math.abs(Date.now() - Number(p.time))).toBeLessThan(60_000);
      }
    });
  }

  it('walks IPv6 extension headers that libpcap port filters cannot see past', async () => {
    const mac = async (ns: string): Promise<number[]> => {
      const out = await run('ip', ['-n', ns, '-j', 'link', 'show', 'eth0']);
      return (JSON.parse(out) as { address: string }[])[0]!.address.split(':').map((b) => Number.parseInt(b, 16));
    };
    const payload = new TextEncoder().encode('behind-ext-headers');
    const packet = ipv6(lab.client.ip6, lab.server.ip6, 17, udp(40000, 8000, payload), [optionsHeader(0), optionsHeader(60, 1)]);
    const frame = ethernet(0x86dd, packet);
    // The builder's placeholder addresses are replaced with the real ones so the frame reaches eth0.
    frame.set([...(await mac(lab.server.ns)), ...(await mac(lab.client.ns))], 0);
    const from = probe.events.length;
    await injectFrame(lab, lab.client, frame);
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'end-ext');
    expect(await burstAfter(from, 'end-ext')).toEqual([
      expect.objectContaining({ family: 6, src: lab.client.ip6, dst: lab.server.ip6, proto: 'udp', dstPort: 8000, payload: hex('behind-ext-headers') }),
    ]);
  });

  it('ignores frames for another host on the same segment, as a non-promiscuous handle would', async () => {
    // With ageing 0 the bridge forgets every address and floods unicast to all ports, like a hub.
    await run('ip', ['-n', `kgt-${lab.id}-hub`, 'link', 'set', 'br0', 'type', 'bridge', 'ageing_time', '0']);
    const other = lab.others[0]!;
    const witness = lab.spawn(lab.server, 'tcpdump', ['-n', '-l', '-c', '1', '-i', 'eth0', `udp dst port 8000 and dst host ${other.ip4}`]);
    let witnessed = '';
    witness.stdout!.on('data', (d: Buffer) => (witnessed += d.toString()));
    const witnessExit = new Promise((resolve) => witness.on('exit', resolve));
    // Give tcpdump a bounded number of tries to be listening before the frame is sent.
    const from = probe.events.length;
    for (let i = 0; i < 20 && !witnessed; i++) {
      await sendUdp(lab, lab.client, other.ip4, 8000, 'for-the-other-host');
      await Promise.race([witnessExit, new Promise((r) => setTimeout(r, 250))]);
    }
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'end-hub');
    const seen = await burstAfter(from, 'end-hub');
    // The frame did reach the server's eth0 (tcpdump in promiscuous mode saw it) …
    expect(witnessed).toContain(`${other.ip4}.8000`);
    // … and the sensor did not report it.
    expect(seen).toEqual([]);
  });

  it('swaps its watched ports live, and keeps the old ones when the new set is refused', async () => {
    probe.send(`ports ${JSON.stringify([{ proto: 'tcp', port: 7001 }, { proto: 'udp', port: 8000 }])}`);
    await probe.waitFor((e) => e.event === 'ports', 'ports swapped');
    const from = probe.events.length;
    await sendSyn(lab, lab.client, lab.server.ip4, 7000);
    await sendSyn(lab, lab.client, lab.server.ip4, 7001);
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'end-swap');
    expect((await burstAfter(from, 'end-swap')).map((p) => p.dstPort)).toEqual([7001]);

    const errorsBefore = probe.events.filter((e) => e.event === 'error').length;
    probe.send(`ports ${JSON.stringify([{ proto: 'tcp', port: 70_000 }])}`);
    await probe.waitFor((e) => e.event === 'error' && probe.events.filter((x) => x.event === 'error').length > errorsBefore, 'refusal');
    const again = probe.events.length;
    await sendSyn(lab, lab.client, lab.server.ip4, 7001);
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'end-refused');
    expect((await burstAfter(again, 'end-refused')).map((p) => p.dstPort)).toEqual([7001]);

    probe.send('ports []');
    await probe.waitFor((e) => e.event === 'ports' && probe.events.indexOf(e) >= again, 'ports emptied');
    const empty = probe.events.length;
    await sendSyn(lab, lab.client, lab.server.ip4, 7001);
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'while-empty');
    probe.send(`ports ${JSON.stringify([{ proto: 'udp', port: 8000 }])}`);
    await probe.waitFor((e) => e.event === 'ports' && probe.events.indexOf(e) >= empty, 'ports restored');
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'end-empty');
    expect(await burstAfter(empty, 'end-empty')).toEqual([]);
  });

  it('counts what it received, decoded and found malformed', async () => {
    const stats = await probe.stats();
    const delivered = probe.packets().length;
    expect(stats.decoded).toBe(delivered);
    expect(stats.malformed).toBe(0);
    expect(Number(stats.received)).toBeGreaterThanOrEqual(delivered);
  });

  it('names a missing interface in a SensorError', async () => {
    const missing = Probe.start(lab, lab.server, 'kgtnosuch0', WATCHED);
    const error = await missing.waitFor((e) => e.event === 'error', 'error');
    expect(error).toMatchObject({ name: 'SensorError', iface: 'kgtnosuch0' });
    expect(String(error.message)).toContain('kgtnosuch0');
  });
});
