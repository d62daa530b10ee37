import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Advice } from '../../src/guard/host-advice.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { GRATUITOUS_ARP_PY } from '../fixtures/guard-python.js';
import { createDaemonLab, labConfig, type DaemonLab } from '../support/daemon-lab.js';
import { makeClientTheGateway, PYTHON } from '../support/guard-lab.js';
import { macOf } from './link-peers.js';
import { waitFor } from '../../src/lab/wait.js';

/**
 * An ARP spoof already in place when the daemon starts: the kernel's table holds the spoofer's
 * MAC for the gateway. The watch asks the gateway with an ARP request and learns only a MAC
 * that is alone in its learning window; here the real gateway answers too, so it is an
 * `arp-conflict` from the start (no MAC learnt, no `arp-changed` with the roles reversed), and
 * `guard advise` does not offer the spoofed MAC as the one to pin.
 */

let dl: DaemonLab;
let gatewayMac: string;
let spooferMac: string;
let config: string;

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1, plainWire: true });
  const { lab } = dl;
  await makeClientTheGateway(lab);
  gatewayMac = await macOf(lab, lab.client);
  spooferMac = await macOf(lab, lab.others[0]!);
  // The kernel takes a gratuitous ARP for a known entry once its locktime (1 s) has passed. The
  // spoofer goes on as arpspoof does (every 0.2 s, for at most 30 s), so the spoof is in place
  // before the daemon starts and stays.
  await sleep(1_100);
  lab.spawn(lab.others[0]!, PYTHON, ['-c', GRATUITOUS_ARP_PY, 'eth0', lab.client.ip4, '150']);
  await waitFor(async () => (await lab.exec(lab.server, 'ip', ['neigh', 'show', lab.client.ip4])).includes(spooferMac), { timeoutMs: 3_000, what: 'the spoofed entry' });
  config = join(dl.dir, 'knockgate.toml');
  await writeFile(config, labConfig(dl.dir, '[guard]\npoll_interval = "200ms"\n\n[guard.arp]\ngateway = true\n'));
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('an ARP spoof in place at start', () => {
  it('is an arp-conflict from the start, and the spoofed MAC is never learnt', async () => {
    const { lab } = dl;
    await dl.serve(await readFile(config, 'utf8'));
    const conflict = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'arp-conflict', 5_000, 'the conflict');
    expect(conflict.finding).toMatchObject({ ip: lab.client.ip4 });
    expect(conflict.finding).not.toHaveProperty('learnedMac');
    expect([...(conflict.finding as { macs: string[] }).macs].sort()).toEqual([gatewayMac, spooferMac].sort());
    await sleep(1_000);
    expect(dl.logLines.filter((l) => l.includes('"outcome":"guard-arp-learnt"'))).toEqual([]);
    expect(dl.logLines.filter((l) => l.includes('"guard":"arp-changed"'))).toEqual([]);
  });

  it('guard advise does not offer the spoofed MAC for a permanent entry', async () => {
    const { lab } = dl;
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.server.ns, process.execPath, CLI, 'guard', 'advise', '--config', config, '--json']);
    const gateway = (JSON.parse(stdout) as Advice[]).find((a) => a.setting === `gateway ${lab.client.ip4} on eth0`);
    expect(gateway?.current).toContain('more than one MAC answers');
    expect(JSON.stringify(gateway)).not.toContain(spooferMac);
  });
});
