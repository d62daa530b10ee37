import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { guardCheckJson, NOBODY, startListener, stop, stopAll, TestCgroups } from './support/guard-lab.js';

/**
 * `knockgate guard check` against real processes in a namespace: the expected service is clean,
 * a process of another user that bound first is `preempted` (with its pid and uid), a same-uid
 * SO_REUSEPORT co-binder is `co-bound` without any declaration, a dead service is `missing`.
 */

const SERVICE_PORT = 2222;
const UNDECLARED_PORT = 2500;

let lab: Lab;
let cgroups: TestCgroups;
let dir: string;
let config: string;
let serviceCgroup: string;

const guardCheck = (extra: string[] = []) => guardCheckJson(lab.server, config, extra);

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
  cgroups = new TestCgroups(lab.id);
  serviceCgroup = cgroups.make('sshd.service');
  dir = await mkdtemp(join(tmpdir(), 'kgt-guard-'));
  config = join(dir, 'knockgate.toml');
  await writeFile(
    config,
    `[door.ssh]
sequence = ["7000:tcp", "8000:tcp"]
open = ["${SERVICE_PORT}/tcp"]

[guard.expect.ssh]
port = "${SERVICE_PORT}/tcp"
cgroup = "${serviceCgroup}"
uid = 0
`,
  );
});

afterEach(stopAll);

afterAll(async () => {
  await stopAll();
  await lab?.destroy();
  cgroups?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('knockgate guard check', () => {
  it('reports missing when nobody listens, and nothing once the expected service does', async () => {
    const down = await guardCheck();
    expect(down.code).toBe(1);
    expect(down.findings.map((f) => f.kind)).toEqual(['missing']);
    expect(down.findings[0]).toMatchObject({ expectation: 'ssh', port: SERVICE_PORT, proto: 'tcp' });

    await startListener(lab.server, { name: 'sshd', family: 6, port: SERVICE_PORT, cgroup: serviceCgroup });
    expect(await guardCheck()).toEqual({ code: 0, findings: [] });
  });

  it('reports a process of another user that bound the port first as preempted, with its pid and uid', async () => {
    const attacker = await startListener(lab.server, { name: 'evil', port: SERVICE_PORT, uid: NOBODY });
    // The real service now cannot start: the port is taken.
    await expect(startListener(lab.server, { name: 'sshd', port: SERVICE_PORT, cgroup: serviceCgroup })).rejects.toThrow(/Address already in use/);
    const { code, findings } = await guardCheck();
    expect(code).toBe(1);
    expect(findings).toHaveLength(1);
    const f = findings[0]!;
    expect(f.kind).toBe('preempted');
    expect(f.sockets[0]).toMatchObject({ uid: NOBODY, port: SERVICE_PORT });
    expect(f.sockets[0]!.owners).toEqual([expect.objectContaining({ pid: attacker.pid, euid: NOBODY, exe: expect.stringMatching(/python3/) })]);
    expect(f.reasons!.join(' ')).toMatch(/socket uid 65534, expected 0/);
    expect(f.summary).toContain(`pid ${attacker.pid}`);
  });

  it('reports an IPv6-only bind beside an IPv4-only service as preempted (the family gap)', async () => {
    await startListener(lab.server, { name: 'sshd', port: SERVICE_PORT, cgroup: serviceCgroup });
    const attacker = await startListener(lab.server, { name: 'evil6', family: 6, port: SERVICE_PORT, v6only: true, uid: NOBODY });
    const { findings } = await guardCheck();
    expect(findings.map((f) => [f.kind, f.sockets[0]?.address, f.sockets[0]?.owners[0]?.pid])).toEqual([['preempted', '::', attacker.pid]]);
  });

  it('reports two processes co-binding one address:port with SO_REUSEPORT as co-bound, undeclared', async () => {
    await startListener(lab.server, { name: 'sshd', family: 6, port: SERVICE_PORT, cgroup: serviceCgroup });
    const service = await startListener(lab.server, { name: 'svc', port: UNDECLARED_PORT, reusePort: true, uid: NOBODY });
    const hijacker = await startListener(lab.server, { name: 'evil', port: UNDECLARED_PORT, reusePort: true, uid: NOBODY });
    const { code, findings } = await guardCheck();
    expect(code).toBe(1);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'co-bound', port: UNDECLARED_PORT, address: '0.0.0.0' });
    expect(findings[0]!.sockets.flatMap((s) => s.owners.map((o) => o.pid)).sort()).toEqual([service.pid, hijacker.pid].sort());

    // Gone again once the hijacker is.
    await stop(hijacker);
    expect((await guardCheck()).findings).toEqual([]);
    // With --unexpected the undeclared service itself is reported.
    expect((await guardCheck(['--unexpected'])).findings.map((f) => [f.kind, f.port])).toEqual([['unexpected', UNDECLARED_PORT]]);
  });

  it('reports the service as missing again after it died', async () => {
    const service = await startListener(lab.server, { name: 'sshd', family: 6, port: SERVICE_PORT, cgroup: serviceCgroup });
    expect((await guardCheck()).code).toBe(0);
    await stop(service);
    expect((await guardCheck()).findings.map((f) => f.kind)).toEqual(['missing']);
  });
});
