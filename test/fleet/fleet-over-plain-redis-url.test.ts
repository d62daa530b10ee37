import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetLab, fleetMemberConfig, knockAtFirstOpensTheRest, type FleetLab } from '../support/fleet-lab.js';
import { tcpRedis } from '../support/redis-topology.js';

describe('a fleet on redis://HOST:PORT/DB (plain TCP to a redis-server on its own host)', () => {
  let fl: FleetLab;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], fleetMemberConfig, tcpRedis);
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('a knock at A opens B through that Redis', async () => {
    expect(fl.redisUrl).toMatch(/^redis:\/\/10\.200\./);
    const [adopted] = await knockAtFirstOpensTheRest(fl);
    expect(adopted).toMatchObject({ member: 'a', door: 'ssh', ports: ['22/tcp'] });
    expect(await fl.members[1]!.cli(['status', '--fleet'])).toMatch(/fleet: lab, this member b, Redis connected/);
  });
});
