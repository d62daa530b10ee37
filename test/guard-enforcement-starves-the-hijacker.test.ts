import { rmdirSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortExpectation } from '../src/config/model.js';
import { NftProcess } from '../src/gates/nft-process.js';
import { GuardEnforcer } from '../src/guard/guard-enforcer.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { cgroupMount, connectMany, NOBODY, startListener, stop, stopAll, TestCgroups } from './support/guard-lab.js';

/**
 * With enforcement on, a hijacker that co-binds the service's port with SO_REUSEPORT (same uid,
 * another cgroup) receives no connection, while the service's cgroup still does; and a unit
 * restart that re-creates the cgroup is followed by a reload rather than a silent stale rule.
 */

const PORT = 2300;
const CONNECTIONS = 40;

let lab: Lab;
let cgroups: TestCgroups;
let nft: NftProcess;
let legitCgroup: string;

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
  cgroups = new TestCgroups(lab.id);
  legitCgroup = cgroups.make('legit.service');
  // nsenter keeps the host's /sys, where nft resolves cgroup paths.
  nft = new NftProcess({ command: ['nsenter', `--net=/run/netns/${lab.server.ns}`, 'nft'] });
});

afterAll(async () => {
  await stopAll();
  await nft?.close();
  await lab?.destroy();
  cgroups?.remove();
});

describe('guard enforcement (nftables socket cgroupv2)', () => {
  it('delivers new connections only to the expected cgroup; the co-bound hijacker gets none', async () => {
    const evilCgroup = cgroups.make('evil.scope');
    const legit = await startListener(lab.server, { name: 'legit', port: PORT, reusePort: true, uid: NOBODY, cgroup: legitCgroup });
    await startListener(lab.server, { name: 'evil', port: PORT, reusePort: true, uid: NOBODY, cgroup: evilCgroup });

    // Without enforcement SO_REUSEPORT splits the connections: the attack works.
    const before = await connectMany(lab, PORT, CONNECTIONS);
    expect(before.evil ?? 0).toBeGreaterThan(0);
    expect(before.legit ?? 0).toBeGreaterThan(0);

    const expectation: PortExpectation = { name: 'svc', proto: 'tcp', port: PORT, owner: { cgroup: legitCgroup }, mustListen: true, enforce: true, shared: false };
    const enforcer = new GuardEnforcer(nft, 'knockgate', [expectation]);
    expect(await enforcer.refresh()).toBe(true);
    const ruleset = await nft.runOnce(['list', 'chain', 'inet', 'knockgate', 'guard']);
    expect(ruleset).toMatch(/socket cgroupv2 level 2/);

    const after = await connectMany(lab, PORT, CONNECTIONS);
    expect(after.evil ?? 0).toBe(0);
    expect(after.legit ?? 0).toBeGreaterThan(0);
    // The connections hashed to the hijacker's socket are dropped, not handed to it.
    expect((after.legit ?? 0) + (after.timeout ?? 0)).toBe(CONNECTIONS);

    // Nothing changed: no reload.
    expect(await enforcer.refresh()).toBe(false);

    // A restart of the unit: its cgroup is removed and made again (a new inode), the service comes back.
    await stop(legit);
    const dir = `${cgroupMount()}${legitCgroup}`;
    rmdirSync(dir);
    mkdirSync(dir);
    await startListener(lab.server, { name: 'legit', port: PORT, reusePort: true, uid: NOBODY, cgroup: legitCgroup });
    expect(await enforcer.refresh()).toBe(true);
    const restarted = await connectMany(lab, PORT, CONNECTIONS);
    expect(restarted.evil ?? 0).toBe(0);
    expect(restarted.legit ?? 0).toBeGreaterThan(0);

    await enforcer.remove();
    await expect(nft.runOnce(['list', 'chain', 'inet', 'knockgate', 'guard'])).rejects.toThrow();
  });

  it('drops new input to the port when the expected cgroup does not exist', async () => {
    await stopAll();
    const ghost = await startListener(lab.server, { name: 'squatter', port: PORT + 1, uid: NOBODY });
    const enforcer = new GuardEnforcer(nft, 'knockgate', [
      { name: 'gone', proto: 'tcp', port: PORT + 1, owner: { cgroup: `${cgroups.root}/never-started.service` }, mustListen: true, enforce: true, shared: false },
    ]);
    expect(await enforcer.refresh()).toBe(true);
    expect(await connectMany(lab, PORT + 1, 4)).toEqual({ timeout: 4 });
    await stop(ghost);
    await enforcer.remove();
  });
});
