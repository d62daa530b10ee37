import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import type { PortFinding } from '../src/guard/finding.js';
import { guardCheckJson, NOBODY, startListener, stopAll, TestCgroups } from './support/guard-lab.js';

/**
 * A service that runs several processes on one port (reuseport workers) is `co-bound` unless its
 * expectation says `shared = true`; then it is clean while every worker is in the expected
 * cgroup, and `co-bound` again (with `preempted`) as soon as a process outside it joins.
 */

const SHARED_PORT = 2400;
const PLAIN_PORT = 2401;
const WORKERS = 3;

let lab: Lab;
let cgroups: TestCgroups;
let dir: string;
let config: string;

const guardFindings = async () => (await guardCheckJson(lab.server, config)).findings;

/** Kind and port of each finding, sorted: /proc lists sockets in hash order, which varies per namespace. */
const summary = (fs: PortFinding[]) => fs.map((f) => `${f.kind} ${f.port}`).sort();

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
  cgroups = new TestCgroups(lab.id);
  const web = cgroups.make('web.service');
  dir = await mkdtemp(join(tmpdir(), 'kgt-guard-'));
  config = join(dir, 'knockgate.toml');
  await writeFile(
    config,
    `[guard.expect.web]
port = "${SHARED_PORT}/tcp"
cgroup = "${web}"
shared = true

[guard.expect.web-plain]
port = "${PLAIN_PORT}/tcp"
cgroup = "${web}"
`,
  );
  for (let i = 0; i < WORKERS; i++) {
    await startListener(lab.server, { name: `worker${i}`, port: SHARED_PORT, reusePort: true, uid: NOBODY, cgroup: web });
    await startListener(lab.server, { name: `plain${i}`, port: PLAIN_PORT, reusePort: true, uid: NOBODY, cgroup: web });
  }
});

afterAll(async () => {
  await stopAll();
  await lab?.destroy();
  cgroups?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('shared = true on an expectation', () => {
  it('accepts several workers of the expected owner; without it the same workers are co-bound', async () => {
    const findings = await guardFindings();
    expect(summary(findings)).toEqual([`co-bound ${PLAIN_PORT}`]);
    expect(findings[0]!.sockets).toHaveLength(WORKERS);
  });

  it('reports co-bound and preempted once a process outside the owner joins the shared port', async () => {
    const hijacker = await startListener(lab.server, { name: 'evil', port: SHARED_PORT, reusePort: true, uid: NOBODY, cgroup: cgroups.make('evil.scope') });
    const findings = await guardFindings();
    expect(summary(findings)).toEqual([`co-bound ${SHARED_PORT}`, `co-bound ${PLAIN_PORT}`, `preempted ${SHARED_PORT}`]);
    const coBound = findings.find((f) => f.kind === 'co-bound' && f.port === SHARED_PORT)!;
    expect(coBound.sockets.map((s) => s.owners[0]?.pid)).toContain(hijacker.pid);
    expect(findings.find((f) => f.kind === 'preempted')!.sockets[0]!.owners.map((o) => o.pid)).toEqual([hijacker.pid]);
  });
});
