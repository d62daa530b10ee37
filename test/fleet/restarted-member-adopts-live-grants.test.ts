import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetLab, fleetMemberConfig, knockAt, type FleetLab, type FleetMemberLab } from '../support/fleet-lab.js';

describe('a member restarted while a fleet grant is live', () => {
  let fl: FleetLab;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], (name, dir, socket) => fleetMemberConfig(name, dir, socket));
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('enforces the grant again as soon as it is back, with the time it has left', async () => {
    const [a, b] = fl.members as [FleetMemberLab, FleetMemberLab];
    const { lab } = fl;
    await knockAt(fl, lab.client, a);
    await fl.waitOpen(lab.client, b, 'B open for the client');
    // A clean stop closes B's grants (nftables on_stop = "close"): the port is shut until B is back.
    await b.stop();
    expect((await fl.connect(lab.client, b, 1)).connected).toBe(false);
    await b.start();
    const reconciled = await b.waitForLog((e) => e.outcome === 'fleet-reconciled' && e.opened === 1, 'the reconcile after the restart');
    expect(reconciled).toMatchObject({ fleet_grants: 1, dropped: 0 });
    // Adopted before the daemon said it started: the port is open at once.
    expect((await fl.connect(lab.client, b, 2)).connected).toBe(true);
    const adopted = b.lines((e) => e.outcome === 'fleet-adopted' && e.src === lab.client.ip4);
    expect(adopted.at(-1)).toMatchObject({ member: 'a' });
    expect(Number(adopted.at(-1)?.open_for_s)).toBeLessThan(60);
  }, 60_000);
});
