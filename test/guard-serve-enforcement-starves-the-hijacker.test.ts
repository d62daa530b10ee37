import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, type DaemonLab } from './support/daemon-lab.js';
import { connectMany, NOBODY, startListener, stopAll, TestCgroups } from './support/guard-lab.js';

/**
 * End to end: `knockgate serve` with `enforce = true` in its config loads the guard chain, and a
 * hijacker co-binding the service's port with SO_REUSEPORT (same uid, another cgroup) receives no
 * connection while the expected cgroup's socket still does. The daemon runs under nsenter --net
 * (lab.spawn hostSysfs), not `ip netns exec`, whose own sysfs mount hides /sys/fs/cgroup, where
 * nft resolves cgroup paths.
 */

const PORT = 2700;
const CONNECTIONS = 40;

let dl: DaemonLab;
let cgroups: TestCgroups;

beforeAll(async () => {
  dl = await createDaemonLab();
  cgroups = new TestCgroups(dl.lab.id);
});

afterAll(async () => {
  await stopAll();
  await dl?.stopDaemon();
  await dl?.destroy();
  cgroups?.remove();
});

describe('serve with guard enforcement', () => {
  it('the co-binding hijacker receives no connection, the expected cgroup does', async () => {
    const legitCgroup = cgroups.make('legit.service');
    await startListener(dl.lab.server, { name: 'legit', port: PORT, reusePort: true, uid: NOBODY, cgroup: legitCgroup });
    const hijacker = await startListener(dl.lab.server, { name: 'evil', port: PORT, reusePort: true, uid: NOBODY, cgroup: cgroups.make('evil.scope') });

    // Before the daemon, SO_REUSEPORT splits the connections: the attack works.
    const before = await connectMany(dl.lab, PORT, CONNECTIONS);
    expect(before.evil ?? 0).toBeGreaterThan(0);
    expect(before.legit ?? 0).toBeGreaterThan(0);

    const guard = `[guard]
poll_interval = "200ms"

[guard.arp]
gateway = false

[guard.expect.svc]
port = "${PORT}/tcp"
cgroup = "${legitCgroup}"
enforce = true
`;
    await dl.serve(labConfig(dl.dir, guard), [], { hostSysfs: true });
    await dl.waitForLog((e) => e.outcome === 'guard-enforcing' && Array.isArray(e.ports), 5_000, 'enforcement loaded');
    const preempted = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'preempted', 5_000, 'the hijacker reported');
    expect((preempted.finding as { sockets: Array<{ owners: Array<{ pid: number }> }> }).sockets[0]!.owners[0]!.pid).toBe(hijacker.pid);

    const after = await connectMany(dl.lab, PORT, CONNECTIONS);
    expect(after.evil ?? 0).toBe(0);
    expect(after.legit ?? 0).toBeGreaterThan(0);
    // Connections the kernel hashed to the hijacker are dropped, not handed to it.
    expect((after.legit ?? 0) + (after.timeout ?? 0)).toBe(CONNECTIONS);
    expect(await dl.lab.exec(dl.lab.server, 'nft', ['list', 'chain', 'inet', 'knockgate', 'guard'])).toMatch(/socket cgroupv2 level 2/);
  });
});
