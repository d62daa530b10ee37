import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRATUITOUS_ARP_PY } from './fixtures/guard-python.js';
import { createDaemonLab, labConfig, type DaemonLab } from './support/daemon-lab.js';
import { daemonStatus } from './support/daemon-vitals.js';
import { makeClientTheGateway, PYTHON } from './support/guard-lab.js';
import { waitFor } from '../src/lab/wait.js';

/**
 * Two MACs answering for the gateway's address — a spoofer in a third namespace and the real
 * gateway, each sending ARP replies from a raw socket — are an `arp-conflict` naming both. When
 * the gateway answers last the MAC is back to the one learnt, so `arp-changed` clears, but the
 * conflict stands: the flip-flop itself is the finding.
 */

const POLL_MS = 200;
const REPLIES = 3;

let dl: DaemonLab;
let alerts: string;
let gatewayMac: string;
let spooferMac: string;

const macOf = async (host: DaemonLab['lab']['client']) => (await dl.lab.exec(host, 'cat', [`/sys/class/net/${host.iface}/address`])).trim();
const alertLines = async () => (await readFile(alerts, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const garp = (host: DaemonLab['lab']['client']) => dl.lab.exec(host, PYTHON, ['-c', GRATUITOUS_ARP_PY, host.iface, dl.lab.client.ip4, String(REPLIES)]);

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1, plainWire: true });
  const { lab } = dl;
  alerts = join(dl.dir, 'alerts.log');
  // The client plays the gateway; the server learns its MAC before the daemon starts.
  await makeClientTheGateway(lab);
  gatewayMac = await macOf(lab.client);
  spooferMac = await macOf(lab.others[0]!);
  const guard = `[guard]
poll_interval = "${POLL_MS}ms"
alert_command = ["/bin/sh", "-c", 'echo "$KNOCKGATE_GUARD_CHANGE $KNOCKGATE_GUARD_KIND" >> ${alerts}']

[guard.arp]
gateway = true
`;
  await dl.serve(labConfig(dl.dir, guard));
  await dl.waitForLog((e) => e.outcome === 'guard-arp-learnt' && e.ip === lab.client.ip4 && e.mac === gatewayMac, 5_000, 'the gateway MAC learnt');
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('guard ARP watch: two MACs answer for the gateway', () => {
  it('reports arp-conflict with both MACs, and keeps it after the gateway answers last', async () => {
    const { lab } = dl;
    await garp(lab.others[0]!);
    const changed = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'arp-changed', 5_000, 'the spoofer seen as a change');
    expect(changed.finding).toMatchObject({ ip: lab.client.ip4, learnedMac: gatewayMac });
    const conflict = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'arp-conflict', 5_000, 'the conflict');
    expect(conflict.finding).toMatchObject({ kind: 'arp-conflict', ip: lab.client.ip4, learnedMac: gatewayMac, interfaces: ['eth0'] });
    expect([...(conflict.finding as { macs: string[] }).macs].sort()).toEqual([gatewayMac, spooferMac].sort());

    // The real gateway answers again: its MAC is the latest, the change clears, the conflict stays.
    await garp(lab.client);
    await dl.waitForLog((e) => e.outcome === 'guard-cleared' && e.guard === 'arp-changed', 5_000, 'the change cleared');
    const status = await daemonStatus(dl);
    expect(status.guard?.findings.map((f) => f.kind)).toEqual(['arp-conflict']);
    expect(dl.logLines.filter((l) => l.includes('"guard":"arp-conflict"') && l.includes('"outcome":"guard-cleared"'))).toEqual([]);
    await waitFor(async () => (await alertLines()).includes('appeared arp-conflict'), { timeoutMs: 5_000, what: 'the alert for the conflict' });
    expect((await alertLines()).filter((l) => l.endsWith('arp-conflict'))).toEqual(['appeared arp-conflict']);
  });
});
