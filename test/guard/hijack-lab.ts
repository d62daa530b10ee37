import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, type Lab, type LabHost } from '../../src/lab/netns.js';
import { labConfig, type DaemonLab } from '../support/daemon-lab.js';
import { guardCheckJson, startPython, stopAll, TestCgroups, type GuardCheckResult, type PythonSpec } from '../support/guard-lab.js';
import { ATTACKER_PY } from './hijack-python.js';

/** A lab for the hijack tests: namespaces, test cgroups, a temp dir, and `guard check` on a [guard] section. */
export interface HijackLab {
  lab: Lab;
  cgroups: TestCgroups;
  dir: string;
  /** `guard check --json` in the server namespace with this [guard] section (and its tables). */
  check(guardToml: string, extra?: string[]): Promise<GuardCheckResult>;
  destroy(): Promise<void>;
}

export async function createHijackLab(extraHosts = 0): Promise<HijackLab> {
  const lab = await createLab({ prefix: 'kgt', extraHosts });
  const cgroups = new TestCgroups(lab.id);
  const dir = await mkdtemp(join(tmpdir(), 'kgt-hijack-'));
  let n = 0;
  return {
    lab,
    cgroups,
    dir,
    async check(guardToml, extra = []) {
      const config = join(dir, `guard-${n++}.toml`);
      await writeFile(config, `[daemon]\ninterfaces = ["eth0"]\nstate_dir = "${dir}"\n\n${guardToml}\n\n[guard.arp]\ngateway = false\n`);
      return guardCheckJson(lab.server, config, extra);
    },
    async destroy() {
      await stopAll();
      await lab.destroy();
      cgroups.remove();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One of ATTACKER_PY's modes in the host's namespace. */
export function startAttacker(host: LabHost, mode: string, name: string, address: string, port: number, spec: PythonSpec & { peer?: [string, number] } = {}) {
  const family = address.includes(':') ? '6' : '4';
  return startPython(host, name, ATTACKER_PY, [mode, name, family, address, String(port), ...(spec.peer ? [spec.peer[0], String(spec.peer[1])] : [])], spec);
}

/**
 * A daemon lab config whose [guard] polls every 200 ms and watches no ARP gateway (the lab has
 * none), with `guardKeys` more keys of [guard] and `sections` more tables after it.
 */
export function watchConfig(dir: string, sections = '', guardKeys = ''): string {
  return labConfig(dir, `[guard]\npoll_interval = "200ms"\n${guardKeys}\n[guard.arp]\ngateway = false\n\n${sections}`);
}

/** The daemon's log lines for one finding kind that appeared (`guard-finding`) or cleared. */
export function changeLines(dl: DaemonLab, kind: string, outcome: 'guard-finding' | 'guard-cleared'): string[] {
  return dl.logLines.filter((l) => l.includes(`"guard":"${kind}"`) && l.includes(`"outcome":"${outcome}"`));
}
