import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpFlag } from '../src/core/packet.js';
import { probeConnect } from '../src/lab/connect-probe.js';
import { bytes, ethernet, ipv4, tcp, udp } from './fixtures/frames.js';
import { injectFrames, macAddressOf } from './fixtures/lab-traffic.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { daemonStatus } from './support/daemon-vitals.js';

// examples/knockgate.toml: without `target`, a door counts knocks to any address of the capture
// interfaces, IPv4 or IPv6, and nothing else.
describe('daemon: only knocks addressed to the server count', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1, plainWire: true });
    await dl.serve(
      labConfig(
        dl.dir,
        labDoor({ open_for: '"30s"' }),
      ),
    );
  }, 30_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('ignores the sequence sent to another host on the segment, even when the frames reach the server', async () => {
    const { lab } = dl;
    const other = lab.others[0]!;
    const [serverMac, clientMac] = await Promise.all([macAddressOf(lab, lab.server), macAddressOf(lab, lab.client)]);
    // At the server's MAC, as a spoofed or misrouted sender would put them: the sensor sees them.
    const to = (segment: Uint8Array, proto: number) => {
      const frame = bytes(ethernet(0x0800, ipv4(lab.client.ip4, other.ip4, segment, { proto })));
      frame.set([...serverMac, ...clientMac], 0);
      return frame;
    };
    const before = await daemonStatus(dl);
    await injectFrames(lab, lab.client, [to(tcp(40_000, 7000, TcpFlag.syn), 6), to(udp(40_000, 8000, new Uint8Array(8)), 17), to(tcp(40_000, 9000, TcpFlag.syn), 6)]);
    let after = before;
    for (let polls = 0; polls < 20 && after.sensor.decoded < before.sensor.decoded + 3; polls++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await daemonStatus(dl);
    }
    expect(after.sensor.decoded - before.sensor.decoded).toBeGreaterThanOrEqual(3);
    expect(dl.logLines.filter((l) => l.includes(`"src":"${lab.client.ip4}"`))).toEqual([]);
    expect((await dl.connect(lab.client)).connected).toBe(false);
  });

  it('counts the same sequence sent to the server\'s IPv6 address and opens for the client\'s IPv6 address', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, ['-6', lab.server.ip6, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip6, 5_000, 'the IPv6 open');
    expect((await probeConnect(lab, lab.client, lab.server.ip6, SERVICE_PORT)).connected).toBe(true);
    // The grant is for the address that knocked: the client's IPv4 address is still shut out.
    expect((await dl.connect(lab.client)).connected).toBe(false);
  });
});
