import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortFinding } from '../../src/guard/finding.js';
import { createDaemonLab, type DaemonLab } from '../support/daemon-lab.js';
import { guardCheckJson, startListener, stopAll } from '../support/guard-lab.js';
import { changeLines, watchConfig } from './hijack-lab.js';

/**
 * A hijacker inside another network namespace (a container's) co-binds where a scan of the
 * guard's own namespace does not look. With `--all-netns` (or `all_netns = true`) the guard
 * reads every namespace's sockets and reports the co-binding there, named by the namespace's
 * `ip netns` name; an expectation with `netns = "NAME"` checks that namespace alone.
 */

const PORT = 8080;
let dl: DaemonLab;
let other: string;
let pids: number[];

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1 });
  const host = dl.lab.others[0]!;
  other = host.ns;
  const a = await startListener(host, { name: 'web', port: PORT, reusePort: true });
  const b = await startListener(host, { name: 'evil', port: PORT, reusePort: true });
  pids = [a.pid!, b.pid!];
});

afterAll(async () => {
  await stopAll();
  await dl?.stopDaemon();
  await dl?.destroy();
});

const inOther = (fs: PortFinding[]) => fs.filter((f) => f.netns === other);

describe('every network namespace', () => {
  it('guard check without --all-netns does not see the other namespace', async () => {
    const config = join(dl.dir, 'own.toml');
    await writeFile(config, watchConfig(dl.dir));
    // Its own namespace holds only the lab's service: nothing wrong there.
    expect(await guardCheckJson(dl.lab.server, config)).toEqual({ code: 0, findings: [] });
  });

  it('guard check --all-netns reports the co-binding there, with the namespace name', async () => {
    const config = join(dl.dir, 'all.toml');
    await writeFile(config, watchConfig(dl.dir));
    const { code, findings } = await guardCheckJson(dl.lab.server, config, ['--all-netns']);
    expect(code).toBe(1);
    const [coBound, ...rest] = inOther(findings);
    expect(rest).toEqual([]);
    expect(coBound).toMatchObject({ family: 'port', kind: 'co-bound', netns: other, port: PORT, address: '0.0.0.0' });
    expect(coBound!.sockets.flatMap((s) => s.owners.map((o) => o.pid)).sort()).toEqual([...pids].sort());
    expect(coBound!.sockets.every((s) => s.netns === other)).toBe(true);
    expect(coBound!.summary).toContain(`in ${other}`);
  });

  it('an expectation with netns = NAME checks that namespace without all_netns', async () => {
    const config = join(dl.dir, 'named.toml');
    await writeFile(config, watchConfig(dl.dir, `[guard.expect.web]\nport = "${PORT}/tcp"\nnetns = "${other}"\nuid = 1000\n`));
    const { findings } = await guardCheckJson(dl.lab.server, config);
    const kinds = inOther(findings).map((f) => [f.kind, f.expectation]);
    expect(kinds).toEqual([
      ['co-bound', undefined],
      ['preempted', 'web'],
      ['preempted', 'web'],
    ]);
  });

  it('the daemon with all_netns = true logs it once, with netns', async () => {
    await dl.serve(watchConfig(dl.dir, '', 'all_netns = true\n'));
    const found = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'co-bound' && e.netns === other, 5_000, 'co-bound in the other namespace');
    expect(found.finding).toMatchObject({ netns: other, port: PORT });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(changeLines(dl, 'co-bound', 'guard-finding').filter((l) => l.includes(`"netns":"${other}"`))).toHaveLength(1);
  });
});
