import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, type DaemonLab } from '../support/daemon-lab.js';
import { PYTHON } from '../support/guard-lab.js';
import { changeLines, watchConfig } from './hijack-lab.js';
import { SPOOFED_NA_PY } from './hijack-python.js';
import { macOf } from './link-peers.js';

/**
 * The IPv6 default gateway is watched like the IPv4 one: a spoofed neighbour advertisement from
 * a third namespace (a raw frame with the override flag, claiming the gateway's address for the
 * spoofer's MAC) is `ndp-changed` from the MAC learnt to the spoofer's, and `ndp-conflict` while
 * both answer; each reported once.
 */

let dl: DaemonLab;

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1, plainWire: true });
  const { lab } = dl;
  // The client plays the IPv6 gateway; the server learns its MAC before the daemon starts.
  await lab.exec(lab.server, 'ip', ['-6', 'route', 'add', 'default', 'via', lab.client.ip6]);
  await lab.exec(lab.server, 'ping', ['-6', '-c', '1', '-W', '2', lab.client.ip6]);
  await dl.serve(
    watchConfig(
      dl.dir,
      `[guard.ipv6]
routers = []
gateway = true
interfaces = ["eth0"]
`,
    ),
  );
  await dl.waitForLog((e) => e.outcome === 'guard-arp-learnt' && e.watcher === 'ndp' && e.ip === lab.client.ip6, 5_000, 'the IPv6 gateway learnt');
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('NDP watch: a spoofed neighbour advertisement for the IPv6 gateway', () => {
  it('is ndp-changed to the spoofer and ndp-conflict with both MACs, each once', async () => {
    const { lab } = dl;
    const gatewayMac = await macOf(lab, lab.client);
    const spooferMac = await macOf(lab, lab.others[0]!);
    await lab.exec(lab.others[0]!, PYTHON, ['-c', SPOOFED_NA_PY, 'eth0', lab.client.ip6, '3']);
    const changed = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'ndp-changed', 5_000, 'ndp-changed');
    expect(changed.finding).toMatchObject({ family: 'neighbour', kind: 'ndp-changed', ip: lab.client.ip6, learnedMac: gatewayMac });
    expect(changed.finding).toMatchObject({ macs: expect.arrayContaining([spooferMac]) });
    const conflict = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'ndp-conflict', 5_000, 'ndp-conflict');
    expect([...(conflict.finding as { macs: string[] }).macs].sort()).toEqual([gatewayMac, spooferMac].sort());
    expect(changeLines(dl, 'ndp-changed', 'guard-finding')).toHaveLength(1);
    expect(changeLines(dl, 'ndp-conflict', 'guard-finding')).toHaveLength(1);
  });
});
