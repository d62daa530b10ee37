import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetLab, fleetMemberConfig, knockAtFirstOpensTheRest, type FleetLab } from '../support/fleet-lab.js';
import { tlsRedis } from '../support/redis-topology.js';

describe('a fleet on rediss:// (a redis-server on TLS only, its certificate from a private CA)', () => {
  let fl: FleetLab;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b', 'c'], fleetMemberConfig, tlsRedis);
    await fl.startRedis();
    await fl.members[0]!.start();
    await fl.members[1]!.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('a knock at A opens B through the TLS connection', async () => {
    expect(fl.redisUrl).toMatch(/^rediss:\/\//);
    const [adopted] = await knockAtFirstOpensTheRest({ ...fl, members: fl.members.slice(0, 2) });
    expect(adopted).toMatchObject({ member: 'a', door: 'ssh', ports: ['22/tcp'] });
    expect(await fl.members[1]!.cli(['status', '--fleet'])).toMatch(/fleet: lab, this member b, Redis connected/);
  });

  it('a member that does not trust the CA (no NODE_EXTRA_CA_CERTS) does not reach Redis, and says why', async () => {
    const c = fl.members[2]!;
    await c.start({ NODE_EXTRA_CA_CERTS: '' });
    const line = await c.waitForLog((e) => e.outcome === 'fleet-unreachable', 'the unreachable line');
    expect(line).toMatchObject({ fleet: 'lab', member: 'c', err: expect.stringMatching(/certificate/) });
    expect(line.msg).toMatch(/Redis is unreachable \(.*certificate.*\): SPA packets are refused/);
    expect(await c.cli(['status', '--fleet'])).toMatch(/certificate/);
  });
});
