import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RogueRouterFinding } from '../../src/guard/finding.js';
import { createDaemonLab, type DaemonLab } from '../support/daemon-lab.js';
import { guardCheckJson, stop } from '../support/guard-lab.js';
import { changeLines, watchConfig } from './hijack-lab.js';
import { linkLocal, macOf, startRadvd, type Peer } from './link-peers.js';

/**
 * A real IPv6 router (radvd) in another namespace whose link-local address is not in
 * [guard.ipv6] routers is a `rogue-router` finding with its address, MAC, prefixes, router
 * lifetime and DNS servers; the declared router beside it is not. `guard check` solicits once and waits probe_wait (a
 * router answers within 3.5 s);
 * the daemon reports it once and clears it once after it stops answering solicitations.
 */

const PROBE_INTERVAL_MS = 1_000;

let dl: DaemonLab;
let rogue: Peer;
let config: string;
let rogueAddress: string;

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1 });
  const { lab } = dl;
  const declared = await linkLocal(lab, lab.others[0]!);
  rogueAddress = await linkLocal(lab, lab.client);
  await linkLocal(lab, lab.server);
  await startRadvd(lab, lab.others[0]!, dl.dir, 'fd00:200:1::/64');
  rogue = await startRadvd(lab, lab.client, dl.dir, 'fd00:200:66::/64', 1800);
  config = join(dl.dir, 'guard.toml');
  await writeFile(
    config,
    watchConfig(
      dl.dir,
      `[guard.ipv6]
routers = ["${declared}"]
gateway = false
interfaces = ["eth0"]
probe_interval = "${PROBE_INTERVAL_MS}ms"
probe_wait = "4s"
`,
    ),
  );
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('rogue IPv6 router', () => {
  it('guard check: one solicitation finds the undeclared router and what it advertises', async () => {
    const { lab } = dl;
    const { code, findings } = await guardCheckJson(lab.server, config);
    expect(code).toBe(1);
    const rogues = findings.filter((f) => (f as { kind: string }).kind === 'rogue-router') as unknown as RogueRouterFinding[];
    expect(rogues).toHaveLength(1);
    expect(rogues[0]).toMatchObject({
      family: 'link',
      kind: 'rogue-router',
      router: rogueAddress,
      mac: await macOf(lab, lab.client),
      iface: 'eth0',
      routerLifetime: 1800,
      prefixes: ['fd00:200:66::/64'],
      dns: ['fd00:200::53'],
    });
  });

  it('the daemon reports it once and clears it once when it stops', async () => {
    await dl.serve(await readFile(config, 'utf8'));
    const found = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'rogue-router', 5_000, 'the rogue router finding');
    expect(found.finding).toMatchObject({ router: rogueAddress });
    await stop(rogue.child);
    await dl.waitForLog((e) => e.outcome === 'guard-cleared' && e.guard === 'rogue-router', 3 * PROBE_INTERVAL_MS + 6_000, 'the rogue router cleared');
    expect(changeLines(dl, 'rogue-router', 'guard-finding')).toHaveLength(1);
    expect(changeLines(dl, 'rogue-router', 'guard-cleared')).toHaveLength(1);
  });
});
