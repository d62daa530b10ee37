import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Run a command (no shell) and return stdout; throws with stderr in the message on failure. */
export async function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  if (opts.input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
      });
      child.stdin.end(opts.input);
    });
  }
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

export interface LabHost {
  /** Namespace name. */
  ns: string;
  /** Interface name inside the namespace. */
  iface: string;
  ip4: string;
  ip6: string;
}

export interface Lab {
  id: string;
  server: LabHost;
  client: LabHost;
  /** Extra hosts on the same link (e.g. an attacker), created on request. */
  others: LabHost[];
  /** Run a command inside a namespace; resolves with stdout. */
  exec(host: LabHost, cmd: string, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Start a long-running process inside a namespace; it is killed by PID on destroy(). */
  spawn(host: LabHost, cmd: string, args: string[], opts?: LabSpawnOptions): ChildProcess;
  /** Kill every process this lab started (by PID) and delete its namespaces and links. */
  destroy(): Promise<void>;
}

export interface LabOptions {
  /** Short prefix for names (namespace names are `<prefix>-<id>-<role>`). */
  prefix?: string;
  /** How many extra hosts besides server and client. */
  extraHosts?: number;
  /**
   * Make the hub's bridge a plain wire: with br_netfilter loaded (Docker loads it) a bridge hands
   * its frames to iptables/arptables, which drop hand-built ones (bad checksums, lying headers)
   * before they reach the server. Tests that inject frames want this.
   */
  plainWire?: boolean;
}

export interface LabSpawnOptions extends SpawnOptions {
  /**
   * Enter only the namespace's network (nsenter --net) instead of `ip netns exec`, which also
   * mounts the namespace's own sysfs over /sys and so hides /sys/fs/cgroup, where nft resolves
   * `socket cgroupv2` paths. The process then sees the host's /sys/class/net, not the namespace's
   * interfaces: name its interfaces explicitly.
   */
  hostSysfs?: boolean;
}

/** Where `ip netns add` pins a namespace, for nsenter. */
const NETNS_DIR = '/run/netns';

/**
 * A throwaway lab: a bridge-less topology where every host is a namespace joined to the server's
 * namespace by a bridge in a hub namespace. Addresses are 10.200.0.0/24 and fd00:200::/64 inside
 * the lab's own namespaces, so two labs never see each other's traffic.
 */
export async function createLab(opts: LabOptions = {}): Promise<Lab> {
  const prefix = opts.prefix ?? 'kg';
  const id = randomBytes(3).toString('hex');
  const hub = `${prefix}-${id}-hub`;
  const roles = ['srv', 'cli', ...Array.from({ length: opts.extraHosts ?? 0 }, (_, i) => `x${i}`)];
  const hosts: LabHost[] = roles.map((role, i) => ({
    ns: `${prefix}-${id}-${role}`,
    iface: 'eth0',
    ip4: `10.200.0.${i + 1}`,
    ip6: `fd00:200::${i + 1}`,
  }));
  const children = new Set<ChildProcess>();
  const created: string[] = [];
  const lab: Lab = {
    id,
    server: hosts[0]!,
    client: hosts[1]!,
    others: hosts.slice(2),
    exec: (host, cmd, args, o) => run('ip', ['netns', 'exec', host.ns, cmd, ...args], o),
    spawn(host, cmd, args, { hostSysfs, ...o } = {}) {
      const argv = hostSysfs ? ['nsenter', `--net=${NETNS_DIR}/${host.ns}`, cmd, ...args] : ['ip', 'netns', 'exec', host.ns, cmd, ...args];
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'pipe', ...o });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    async destroy() {
      for (const child of children) {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      children.clear();
      for (const ns of created.reverse()) {
        await killNamespacePids(ns);
        await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      }
    },
  };
  try {
    for (const ns of [hub, ...hosts.map((h) => h.ns)]) {
      await run('ip', ['netns', 'add', ns]);
      created.push(ns);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', hub, 'link', 'set', 'br0', 'up']);
    if (opts.plainWire) await makePlainWire(hub);
    for (const [i, host] of hosts.entries()) {
      const port = `p${i}`;
      // Create the pair inside the hub, then move one end into the host as eth0.
      await run('ip', ['-n', hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
      await run('ip', ['-n', hub, 'link', 'set', port, 'master', 'br0', 'up']);
      await run('ip', ['-n', host.ns, 'addr', 'add', `${host.ip4}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', host.ns, 'addr', 'add', `${host.ip6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
    }
    return lab;
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** The bridge-nf sysctls are per namespace; without br_netfilter they do not exist and the bridge is plain already. */
async function makePlainWire(hub: string): Promise<void> {
  for (const family of ['iptables', 'ip6tables', 'arptables']) {
    await run('ip', ['netns', 'exec', hub, 'sysctl', '-q', '-w', `net.bridge.bridge-nf-call-${family}=0`]).catch(() => undefined);
  }
}

/** Processes still inside a namespace (ones a test did not start through the lab) die with it. */
async function killNamespacePids(ns: string): Promise<void> {
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
