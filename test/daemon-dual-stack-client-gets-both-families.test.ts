import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { probeConnect } from '../src/lab/connect-probe.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

describe('a dual-stack client knocks once per family and may connect over either', () => {
  let dl: DaemonLab;
  let hostsDir: string;
  beforeAll(async () => {
    dl = await createDaemonLab();
    // `ip netns exec` shows /etc/netns/<ns>/hosts as the namespace's /etc/hosts: the name resolves to both families there only.
    hostsDir = `/etc/netns/${dl.lab.client.ns}`;
    await mkdir(hostsDir, { recursive: true });
    await writeFile(`${hostsDir}/hosts`, `${dl.lab.server.ip4} bastion\n${dl.lab.server.ip6} bastion\n`);
    await dl.serve(labConfig(dl.dir, labDoor({ open_for: '"20s"' })));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
    if (hostsDir) await rm(hostsDir, { recursive: true, force: true });
  });

  it('knock --dual-stack opens the door for the IPv4 and the IPv6 address of the client', async () => {
    const { lab } = dl;
    const out = await dl.knock(lab.client, ['--dual-stack', 'bastion', '7000', '8000:udp', '9000']);
    expect(out).toContain('knocked over IPv4 and IPv6');
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the IPv4 open');
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip6, 5_000, 'the IPv6 open');
    expect((await probeConnect(lab, lab.client, lab.server.ip4, SERVICE_PORT)).connected).toBe(true);
    expect((await probeConnect(lab, lab.client, lab.server.ip6, SERVICE_PORT)).connected).toBe(true);
  }, 30_000);
});
