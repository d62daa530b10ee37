import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const OPEN_FOR_S = 3;

describe('daemon: a knockgate door with gate = "iptables"', () => {
  let dl: DaemonLab;
  let configText: string;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    configText = labConfig(
      dl.dir,
      `[door.ssh]
sequence = ["7000:tcp", "8000:udp", "9000:tcp"]
seq_timeout = "2s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "${OPEN_FOR_S}s"
gate = "iptables"
`,
      `[iptables]
chain = "KG_LAB"
on_stop = "close"
`,
    );
    await dl.serve(configText);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('keeps the port closed with iptables only (no nftables table of knockgate), opens on the knock, closes at expiry', async () => {
    const { lab } = dl;
    expect(await lab.exec(lab.server, 'iptables', ['-S', 'INPUT'])).toMatch(/^-A INPUT -j KG_LAB$/m);
    await expect(lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate'])).rejects.toThrow();
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    expect((await dl.connect(lab.client)).connected).toBe(true);
    expect((await dl.connect(lab.others[0]!)).connected).toBe(false);
    await waitFor(async () => !(await dl.connect(lab.client, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the port to close' });
  }, 30_000);

  it('closes on time after SIGKILL, and a restarted daemon installs over the same chains without duplicating the jump', async () => {
    const { lab } = dl;
    const host = lab.others[0]!;
    await dl.knock(host, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4, 5_000, 'the open');
    await dl.stopDaemon('SIGKILL');
    expect((await dl.connect(host)).connected).toBe(true);
    await waitFor(async () => !(await dl.connect(host, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the kernel to close the port' });

    await dl.serve(configText);
    const jumps = (await lab.exec(lab.server, 'iptables', ['-S', 'INPUT'])).split('\n').filter((l) => l === '-A INPUT -j KG_LAB');
    expect(jumps).toHaveLength(1);
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await waitFor(async () => (await dl.connect(lab.client, SERVICE_PORT, 1)).connected, { timeoutMs: 5_000, intervalMs: 200, what: 'the port to open after the restart' });

    // A clean stop with on_stop = "close" drops the grant and keeps the port protected.
    await dl.stopDaemon('SIGTERM');
    expect((await dl.connect(lab.client)).connected).toBe(false);
    expect(await lab.exec(lab.server, 'iptables', ['-S', 'KG_LAB-grants'])).not.toMatch(/ACCEPT/);
  }, 40_000);
});
