import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { createFleetLab, fleetMemberConfig, knockAtFirstOpensTheRest, type FleetLab, type FleetMemberLab } from '../support/fleet-lab.js';
import { sentinelRedis, type SentinelTopology } from '../support/redis-topology.js';

describe('a fleet on redis-sentinel:// (members find the master through a Sentinel)', () => {
  let fl: FleetLab;
  let sentinel: SentinelTopology;

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], fleetMemberConfig, (lab, host, dir) => (sentinel = sentinelRedis(lab, host, dir)));
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('a knock at A opens B through the master the Sentinel names', async () => {
    expect(fl.redisUrl).toMatch(/^redis-sentinel:\/\/.*\/lab$/);
    const [adopted] = await knockAtFirstOpensTheRest(fl);
    expect(adopted).toMatchObject({ member: 'a', door: 'ssh', ports: ['22/tcp'] });
    expect(await fl.members[1]!.cli(['status', '--fleet'])).toMatch(/fleet: lab, this member b, Redis connected/);
    expect((await sentinel.master('hkeys', 'knockgate:fleet:{lab}:grants')).trim()).toBe(`ssh|${fl.lab.client.ip4}`);
  });

  it('when the master dies and the Sentinel promotes the replica, the members follow it: a new knock at A opens B again', async () => {
    const [a, b] = fl.members as [FleetMemberLab, FleetMemberLab];
    const src = fl.lab.client.ip4;
    await a.cli(['flush']);
    await b.waitForLog((e) => e.outcome === 'revoked' && e.src === src, 'the fleet-wide revoke');
    const reconciles = (m: FleetMemberLab) => m.lines((e) => e.outcome === 'fleet-reconciled').length;
    const before = [reconciles(a), reconciles(b)];
    await sentinel.killMaster();
    // Each member loses its connection, asks the Sentinel again and reconciles on the new master.
    for (const [i, m] of [a, b].entries()) {
      await waitFor(() => reconciles(m) > before[i]!, { timeoutMs: 20_000, what: `${m.name} to reconcile on the new master; log:\n${m.logLines.join('\n')}` });
    }
    const adopted = b.lines((e) => e.outcome === 'fleet-adopted').length;
    await knockAtFirstOpensTheRest(fl);
    expect(b.lines((e) => e.outcome === 'fleet-adopted')).toHaveLength(adopted + 1);
    expect((await sentinel.master('hkeys', 'knockgate:fleet:{lab}:grants')).trim()).toBe(`ssh|${src}`);
  }, 60_000);
});
