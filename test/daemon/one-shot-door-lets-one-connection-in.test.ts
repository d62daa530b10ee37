import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, SERVICE_PORT, threeKnockDoor, threeKnocks, type DaemonLab } from '../support/daemon-lab.js';
import { holdConnection } from '../support/held-connection.js';

/**
 * `one_shot = true`: the first new connection from the granted source uses the grant up in the
 * kernel, so a second connection from the same client times out while the first session (an
 * echo service standing in for sshd) keeps carrying data. A door without it lets both in.
 */
function doors(gate: string): string {
  return threeKnockDoor('once', 7000, gate, 'one_shot = true') + threeKnockDoor('plain', 7100, gate);
}

describe.each(['nftables', 'iptables'])('a one-shot door with gate = "%s"', (gate) => {
  let dl: DaemonLab;

  beforeAll(async () => {
    dl = await createDaemonLab();
    await dl.serve(labConfig(dl.dir, doors(gate), gate === 'iptables' ? '[iptables]\nchain = "KG_ONCE"\n' : ''));
  }, 60_000);

  afterAll(async () => {
    await dl?.destroy();
  });

  /** Knocks the one-shot door from the client and waits for its open line (one more than before). */
  async function knockOnce(): Promise<void> {
    const opens = () => dl.logLines.filter((l) => l.includes('"outcome":"open"') && l.includes('"door":"once"')).length;
    const before = opens();
    await dl.knock(dl.lab.client, [dl.lab.server.ip4, ...threeKnocks(7000)]);
    await dl.waitForLog(() => opens() > before, 5_000, 'the one-shot open');
  }

  /** Empties what holds the grants (the whole ruleset, or the iptables grant chain) and waits for the daemon to put its enforcement back. */
  async function flush(): Promise<void> {
    const restores = dl.logLines.filter((l) => l.includes('"enforcement-restored"')).length;
    const argv = gate === 'nftables' ? ['nft', 'flush', 'ruleset'] : ['iptables', '-w', '-F', 'KG_ONCE-grants'];
    await dl.lab.exec(dl.lab.server, argv[0]!, argv.slice(1));
    await dl.waitForLog(() => dl.logLines.filter((l) => l.includes('"enforcement-restored"')).length > restores, 5_000, 'the restore');
  }

  it('lets the first connection in and keeps it working; a second connection from the same client times out', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, ...threeKnocks(7000)]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'once' && e.one_shot === true, 5_000, 'the one-shot open');
    const session = await holdConnection(lab, lab.client, lab.server.ip4, SERVICE_PORT);
    try {
      const used = await dl.waitForLog((e) => e.outcome === 'used-up', 5_000, 'the used-up line');
      expect(used).toMatchObject({ door: 'once', src: lab.client.ip4, port: `${SERVICE_PORT}/tcp`, gate });
      expect((await dl.connect(lab.client)).connected).toBe(false);
      expect(await session.roundTrip('still the first session')).toBe('still the first session');
      // A reload installs the gate again: what was used up stays used up.
      process.kill(dl.daemon!.pid!, 'SIGHUP');
      await dl.waitForLog((e) => e.outcome === 'reloaded', 10_000, 'the reload');
      expect((await dl.connect(lab.client)).connected).toBe(false);
      expect(await session.roundTrip('and after the reload')).toBe('and after the reload');
    } finally {
      session.close();
    }
  }, 30_000);

  it('a knock again, even right after the last grant was used, gives exactly one more connection', async () => {
    const { lab } = dl;
    for (let round = 0; round < 2; round++) {
      await knockOnce();
      expect((await dl.connect(lab.client)).connected).toBe(true);
    }
    expect((await dl.connect(lab.client)).connected).toBe(false);
  }, 30_000);

  it('after a flush the gate comes back without an unused one-shot grant: it cannot tell whether it was used, so it fails closed', async () => {
    const { lab } = dl;
    await knockOnce();
    await flush();
    expect((await dl.connect(lab.client)).connected).toBe(false);
  }, 30_000);

  it('a door without one_shot lets a second connection from the same client in, and its grant comes back after a flush', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, ...threeKnocks(7100)]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'plain', 5_000, 'the plain open');
    expect((await dl.connect(lab.client)).connected).toBe(true);
    expect((await dl.connect(lab.client)).connected).toBe(true);
    await flush();
    expect((await dl.connect(lab.client)).connected).toBe(true);
  }, 30_000);
});
