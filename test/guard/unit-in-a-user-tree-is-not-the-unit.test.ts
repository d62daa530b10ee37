import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startListener } from '../support/guard-lab.js';
import { createHijackLab, type HijackLab } from './hijack-lab.js';

/**
 * `unit = "X.service"` means the system unit: the first component below the slices from the
 * cgroup root. A user's delegated tree can hold a unit of the same name
 * (`…/user@1000.service/app.slice/X.service`), and a process there is not the unit.
 */

const PORT = 2227;
const USER = 1000;
let h: HijackLab;
let unit: string;

beforeAll(async () => {
  h = await createHijackLab();
  unit = `kgtsvc-${h.lab.id}.service`;
  const system = h.cgroups.make(unit);
  for (const level of [`user@${USER}.service`, `user@${USER}.service/app.slice`]) h.cgroups.make(level);
  const delegated = h.cgroups.make(`user@${USER}.service/app.slice/${unit}`);
  await startListener(h.lab.server, { name: 'svc', port: PORT, cgroup: system });
  await startListener(h.lab.server, { name: 'evil', port: PORT, family: 6, v6only: true, uid: USER, cgroup: delegated });
});

afterAll(() => h?.destroy());

describe('a unit of the same name in a user\'s delegated tree', () => {
  it('is not the unit: its socket is preempted, the system unit\'s is not', async () => {
    const { findings } = await h.check(`[guard]\n\n[guard.expect.svc]\nport = "${PORT}/tcp"\nunit = "${unit}"\n`);
    expect(findings.map((f) => f.kind)).toEqual(['preempted']);
    expect(findings[0]!.sockets).toMatchObject([{ address: '::', uid: USER }]);
    expect(findings[0]!.reasons).toEqual([expect.stringMatching(new RegExp(`/user@${USER}\\.service/app\\.slice/${unit.replace(/\./g, '\\.')}, not unit ${unit.replace(/\./g, '\\.')}$`))]);
  });
});
