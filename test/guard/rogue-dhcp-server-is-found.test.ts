import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RogueDhcpFinding } from '../../src/guard/finding.js';
import { createDaemonLab, type DaemonLab } from '../support/daemon-lab.js';
import { guardCheckJson, stop } from '../support/guard-lab.js';
import { changeLines, watchConfig } from './hijack-lab.js';
import { macOf, startDnsmasq, type Peer } from './link-peers.js';

/**
 * A real DHCP server (dnsmasq) on the link that is not declared in [guard.dhcp] servers is a
 * `rogue-dhcp` finding naming its address, MAC and what it offers; a declared one beside it is
 * not. `guard check` finds it with its one DHCPDISCOVER; the daemon within one probe interval,
 * once, and clears it once after the rogue stops answering.
 */

const PROBE_INTERVAL_MS = 1_000;

let dl: DaemonLab;
let rogue: Peer;
let config: string;

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1 });
  const { lab } = dl;
  // others[0] is the declared server, the client a rogue that hands out itself as router and resolver.
  await startDnsmasq(lab, lab.others[0]!, dl.dir, { router: lab.others[0]!.ip4, dns: lab.others[0]!.ip4 });
  rogue = await startDnsmasq(lab, lab.client, dl.dir, { router: lab.client.ip4, dns: lab.client.ip4 });
  config = join(dl.dir, 'guard.toml');
  await writeFile(
    config,
    watchConfig(
      dl.dir,
      `[guard.dhcp]
servers = ["${lab.others[0]!.ip4}"]
interfaces = ["eth0"]
probe_interval = "${PROBE_INTERVAL_MS}ms"
probe_wait = "1s"
`,
    ),
  );
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('rogue DHCP', () => {
  it('guard check: one probe finds the undeclared server and what it offers, not the declared one', async () => {
    const { lab } = dl;
    const { code, findings } = await guardCheckJson(lab.server, config);
    expect(code).toBe(1);
    const rogues = findings.filter((f) => (f as { kind: string }).kind === 'rogue-dhcp') as unknown as RogueDhcpFinding[];
    expect(rogues).toHaveLength(1);
    expect(rogues[0]).toMatchObject({
      family: 'link',
      kind: 'rogue-dhcp',
      server: lab.client.ip4,
      mac: await macOf(lab, lab.client),
      iface: 'eth0',
      offer: { message: 'offer', router: [lab.client.ip4], dns: [lab.client.ip4], leaseSeconds: 3600 },
    });
    expect(rogues[0]!.summary).toContain(`router ${lab.client.ip4}`);
  });

  it('the daemon reports it within one probe interval, once, and clears it once when it stops', async () => {
    const { lab } = dl;
    const started = Date.now();
    await dl.serve(await readFile(config, 'utf8'));
    const found = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'rogue-dhcp', 5_000, 'the rogue DHCP finding');
    expect(Number(found.time) - started).toBeLessThan(5_000);
    expect(found.finding).toMatchObject({ server: lab.client.ip4, family: 'link' });
    await stop(rogue.child);
    await dl.waitForLog((e) => e.outcome === 'guard-cleared' && e.guard === 'rogue-dhcp', 3 * PROBE_INTERVAL_MS + 3_000, 'the rogue cleared');
    expect(changeLines(dl, 'rogue-dhcp', 'guard-finding')).toHaveLength(1);
    expect(changeLines(dl, 'rogue-dhcp', 'guard-cleared')).toHaveLength(1);
    // The declared server answered every probe too, and was never a finding.
    expect(dl.logLines.some((l) => l.includes('"guard":"rogue-dhcp"') && l.includes(`"server":"${lab.others[0]!.ip4}"`))).toBe(false);
  });
});
