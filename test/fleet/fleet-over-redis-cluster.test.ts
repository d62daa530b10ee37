import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetLab, fleetMemberConfig, knockAtFirstOpensTheRest, type FleetLab } from '../support/fleet-lab.js';
import { clusterRedis, CLUSTER_PORTS } from '../support/redis-topology.js';

describe('a fleet on redis-cluster:// (three masters, slots assigned by redis-cli --cluster create)', () => {
  let fl: FleetLab;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], fleetMemberConfig, clusterRedis);
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('a knock at A opens B, and the fleet keys sit together on the one node that owns their hash tag', async () => {
    expect(fl.redisUrl).toMatch(/^redis-cluster:\/\//);
    const [adopted] = await knockAtFirstOpensTheRest(fl);
    expect(adopted).toMatchObject({ member: 'a', door: 'ssh', ports: ['22/tcp'] });
    expect(await fl.members[1]!.cli(['status', '--fleet'])).toMatch(/fleet: lab, this member b, Redis connected/);
    const host = fl.lab.others[fl.members.length]!;
    const keysAt = async (port: number) => (await fl.lab.exec(host, 'redis-cli', ['-h', host.ip4, '-p', String(port), 'keys', 'knockgate:fleet:*'])).split('\n').filter(Boolean).sort();
    const perNode = await Promise.all(CLUSTER_PORTS.map(keysAt));
    const holding = perNode.filter((keys) => keys.length > 0);
    expect(holding).toEqual([['knockgate:fleet:{lab}:epoch', 'knockgate:fleet:{lab}:expiries', 'knockgate:fleet:{lab}:grants', 'knockgate:fleet:{lab}:members']]);
  });
});
