import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Advice } from '../../src/guard/host-advice.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { NOBODY, startListener } from '../support/guard-lab.js';
import { createHijackLab, type HijackLab } from './hijack-lab.js';

/**
 * sock_diag tells whether a `[::]` socket is IPV6_V6ONLY, which /proc cannot. Beside a service
 * on 0.0.0.0, a v6-only `[::]` of another user takes only the IPv6 clients: `preempted`, said
 * to be v6-only, and not co-bound with the IPv4 socket. A service on a dual-stack `[::]` leaves
 * no family for anyone (advise says nothing), one on a v6-only `[::]` leaves IPv4 free (advise
 * says so).
 */

const GAP = 2228;
const DUAL = 2229;
const V6ONLY = 2230;
let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
  await startListener(h.lab.server, { name: 'svc', port: GAP });
  await startListener(h.lab.server, { name: 'evil', port: GAP, family: 6, v6only: true, uid: NOBODY });
  await startListener(h.lab.server, { name: 'dual', port: DUAL, family: 6 });
  await startListener(h.lab.server, { name: 'six', port: V6ONLY, family: 6, v6only: true });
});

afterAll(() => h?.destroy());

const expectations = [GAP, DUAL, V6ONLY].map((p) => `[guard.expect.p${p}]\nport = "${p}/tcp"\nuid = 0\n`).join('\n');

describe('v6-only and dual-stack [::]', () => {
  it('a v6-only [::] of another user beside 0.0.0.0 is preempted as v6-only, and not co-bound', async () => {
    const { findings } = await h.check(`[guard]\n\n${expectations}`);
    expect(findings.map((f) => [f.kind, f.port])).toEqual([['preempted', GAP]]);
    expect(findings[0]!.sockets).toMatchObject([{ address: '::', v6only: true, uid: NOBODY }]);
    expect(findings[0]!.summary).toContain(`[::]:${GAP} (v6-only)`);
  });

  it('advise finds the family gap of a v6-only service, not of a dual-stack one', async () => {
    const config = join(h.dir, 'advise.toml');
    await writeFile(config, `[daemon]\ninterfaces = ["eth0"]\n\n[guard]\n\n[guard.arp]\ngateway = false\n\n${expectations}`);
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', h.lab.server.ns, process.execPath, CLI, 'guard', 'advise', '--config', config, '--json']);
    const gaps = (JSON.parse(stdout) as Advice[]).filter((a) => a.setting.startsWith('both address families'));
    // GAP's service listens on 0.0.0.0 alone (the stranger took its IPv6 side); DUAL's [::] covers both.
    expect(gaps.map((a) => a.setting)).toEqual([`both address families on ${GAP}/tcp`, `both address families on ${V6ONLY}/tcp`]);
    expect(gaps[1]!.why).toContain('the IPv4 side');
  });
});
