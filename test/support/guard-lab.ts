import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { cgroup2MountPoint } from '../../src/guard/cgroup-enforcement.js';
import type { PortFinding } from '../../src/guard/finding.js';
import { CLI } from '../../src/lab/lab-demo.js';
import type { Lab, LabHost } from '../../src/lab/netns.js';
import { LISTENER_PY, TCP_CLIENT_PY } from '../fixtures/guard-python.js';
import { waitFor } from '../../src/lab/wait.js';

/** Real processes for guard tests: listeners as a given uid, inside a cgroup the test made. */

export const NOBODY = 65534;
export const PYTHON = '/usr/bin/python3';

/** The cgroup2 mount of this host (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
export function cgroupMount(): string {
  const mount = cgroup2MountPoint(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (!mount) throw new Error('no cgroup2 mount');
  return mount;
}

/** Cgroups under a test-owned parent (`/kgt-<id>.slice/...`); remove() deletes them, deepest first. */
export class TestCgroups {
  readonly root: string;
  private readonly made: string[] = [];

  constructor(id: string) {
    this.root = `/kgt-${id}.slice`;
  }

  /** Creates `root/name` and returns its cgroup path (as /proc/<pid>/cgroup shows it). */
  make(name: string): string {
    const path = `${this.root}/${name}`;
    for (const p of [this.root, path]) {
      if (this.made.includes(p)) continue;
      mkdirSync(`${cgroupMount()}${p}`, { recursive: true });
      this.made.push(p);
    }
    return path;
  }

  remove(): void {
    for (const p of [...this.made].reverse()) {
      try {
        rmdirSync(`${cgroupMount()}${p}`);
      } catch {
        // still populated by a process that has not exited yet, or already gone
      }
    }
  }
}

export interface ListenerSpec {
  name: string;
  proto?: 'tcp' | 'udp';
  family?: 4 | 6;
  address?: string;
  port: number;
  reusePort?: boolean;
  v6only?: boolean;
  uid?: number;
  cgroup?: string;
}

const started = new Set<ChildProcess>();

/**
 * A python3 listener in the lab host's namespace, started as `uid` inside `cgroup`; resolves
 * once it printed "ready", or rejects with its stderr (e.g. EADDRINUSE). stopAll() kills it.
 */
export async function startListener(host: LabHost, spec: ListenerSpec): Promise<ChildProcess> {
  const family = spec.family ?? 4;
  const args = [
    spec.name,
    spec.proto ?? 'tcp',
    String(family),
    spec.address ?? (family === 4 ? '0.0.0.0' : '::'),
    String(spec.port),
    spec.reusePort ? '1' : '0',
    spec.v6only ? '1' : '0',
  ];
  return startPython(host, spec.name, LISTENER_PY, args, spec);
}

export interface PythonSpec {
  uid?: number;
  /** cgroup path to start in (made with TestCgroups). */
  cgroup?: string;
  /** argv before python3 (inside the namespace, after the uid change), e.g. an `unshare`. */
  wrapper?: string[];
  /** The python3 to run (a path another mount namespace may show differently). */
  python?: string;
}

/**
 * Any python3 program in the lab host's namespace, as `uid` inside `cgroup`; resolves once it
 * printed "ready", rejects with its stderr if it exits first. stopAll() kills it by PID.
 */
export async function startPython(host: LabHost, name: string, program: string, args: string[], spec: PythonSpec = {}): Promise<ChildProcess> {
  const uid = spec.uid ?? 0;
  const asUser = uid === 0 ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const join = spec.cgroup ? `echo $$ > ${cgroupMount()}${spec.cgroup}/cgroup.procs && ` : '';
  // The shell joins the cgroup, then execs into the namespace, so the socket is created inside the
  // cgroup. nsenter rather than `ip netns exec`, which remounts /sys and hides the cgroup tree.
  const argv = ['nsenter', `--net=/run/netns/${host.ns}`, ...asUser, ...(spec.wrapper ?? []), spec.python ?? PYTHON, '-c', program, ...args];
  const child = spawn('sh', ['-c', `${join}exec "$@"`, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${err.trim()}`);
      return out.includes('ready');
    },
    { timeoutMs: 5_000, what: `${name}` },
  );
  return child;
}

/** Kills every listener still running, by PID. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map(stop));
}

/** Kills a child by PID and waits until it is gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGKILL');
  await gone;
}

export interface GuardCheckResult {
  code: number;
  findings: PortFinding[];
}

/** `knockgate guard check --config CONFIG --json` run in the host's namespace: exit code and findings. */
export async function guardCheckJson(host: LabHost, config: string, extra: string[] = []): Promise<GuardCheckResult> {
  try {
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', host.ns, process.execPath, CLI, 'guard', 'check', '--config', config, '--json', ...extra]);
    return { code: 0, findings: (JSON.parse(stdout) as { findings: PortFinding[] }).findings };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, findings: (JSON.parse(err.stdout) as { findings: PortFinding[] }).findings };
  }
}

/** `n` parallel TCP connections from the client to the server's IPv4 `port`: how many each listener name answered ('timeout' for none). */
export async function connectMany(lab: Lab, port: number, n: number): Promise<Record<string, number>> {
  return JSON.parse(await lab.exec(lab.client, PYTHON, ['-c', TCP_CLIENT_PY, lab.server.ip4, String(port), String(n)], { timeoutMs: 20_000 })) as Record<string, number>;
}

/** The lab's client becomes the server's default gateway, and the server learns its MAC. */
export async function makeClientTheGateway(lab: Lab): Promise<void> {
  await lab.exec(lab.server, 'ip', ['route', 'add', 'default', 'via', lab.client.ip4]);
  await lab.exec(lab.server, 'ping', ['-c', '1', '-W', '2', lab.client.ip4]);
}
