import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetLab, fleetMemberConfig, knockAt, type FleetLab } from '../support/fleet-lab.js';

describe('a fleet of three: a knock at A opens A, B and C for that client only', () => {
  let fl: FleetLab;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b', 'c'], (name, dir, socket) => fleetMemberConfig(name, dir, socket));
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('opens every member to the client, with the expiry A set, and no other host', async () => {
    const [a, b, c] = fl.members as [FleetLab['members'][0], FleetLab['members'][0], FleetLab['members'][0]];
    const { lab } = fl;
    for (const m of fl.members) expect((await fl.connect(lab.client, m, 1)).connected).toBe(false);
    await knockAt(fl, lab.client, a);
    const open = await a.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 'the open');
    for (const m of [b, c]) {
      const adopted = await m.waitForLog((e) => e.outcome === 'fleet-adopted' && e.src === lab.client.ip4, 'the fleet grant');
      expect(adopted).toMatchObject({ member: 'a', door: 'ssh', ports: ['22/tcp'] });
      await fl.waitOpen(lab.client, m, `${m.name} to open`);
      expect((await fl.connect(fl.stranger, m, 1)).connected).toBe(false);
    }
    expect(open.open_for_s).toBe(60);
    // The same expiry everywhere: the kernel's time left at B is within a few seconds of A's.
    const left = async (m: typeof a) => (JSON.parse(await m.cli(['status', '--json'])) as { grants: Array<{ src: string; expiresInMs: number; member?: string }> }).grants.find((g) => g.src === lab.client.ip4);
    const [atA, atB] = [await left(a), await left(b)];
    expect(atB?.member).toBe('a');
    expect(Math.abs((atA?.expiresInMs ?? 0) - (atB?.expiresInMs ?? 0))).toBeLessThan(3_000);
  });

  it('status --fleet at any member lists the members with their heartbeat and who made each grant', async () => {
    const c = fl.members[2]!;
    const text = await c.cli(['status', '--fleet']);
    expect(text).toMatch(/fleet: lab, this member c, Redis connected/);
    expect(text).toMatch(/members: .*\ba \(\d+\.\d s ago\)/);
    expect(text).toMatch(/members: .*\bb \(/);
    expect(text).toMatch(new RegExp(`${fl.lab.client.ip4.replace(/\./g, '\\.')}\\s+22/tcp\\s+ssh\\s+a\\s+\\d+ s`));
    const plain = await c.cli(['status']);
    expect(plain).toMatch(/MEMBER/);
    expect(plain).toMatch(/fleet: lab, this member c/);
  });
});
