import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDaemon } from '../../src/client/control-client.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';
import { processAlive } from '../support/gate-lab.js';

const execFileAsync = promisify(execFile);
const UNIT = fileURLToPath(new URL('../../deploy/knockgate.service', import.meta.url));
/** The bound for `systemd-analyze security`. */
const MAX_EXPOSURE = 2.0;

/** Settings of the unit, as `key → values` (a key given twice keeps both, in order). */
async function unitSettings(): Promise<Map<string, string[]>> {
  const settings = new Map<string, string[]>();
  for (const line of (await readFile(UNIT, 'utf8')).split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return settings;
}

/** Every system call a `SystemCallFilter=` group holds, nested groups expanded (systemd's own tables). */
async function syscallGroups(): Promise<Map<string, Set<string>>> {
  const { stdout } = await execFileAsync('systemd-analyze', ['syscall-filter', '--no-pager']);
  const raw = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (/^@\S+$/.test(line.trim()) && !line.startsWith(' ')) raw.set(line.trim(), (current = []));
    else if (current && /^\s+[@a-z0-9_-]+$/.test(line)) current.push(line.trim());
  }
  const expand = (name: string, seen = new Set<string>()): Set<string> => {
    const out = new Set<string>();
    if (seen.has(name)) return out;
    seen.add(name);
    for (const m of raw.get(name) ?? []) for (const s of m.startsWith('@') ? expand(m, seen) : [m]) out.add(s);
    return out;
  };
  return new Map([...raw.keys()].map((g) => [g, expand(g)]));
}

/** The calls the unit lets through: its allow list less its deny list. */
function allowedCalls(filters: string[], groups: Map<string, Set<string>>): Set<string> {
  const resolve = (items: string[]) => new Set(items.flatMap((i) => (i.startsWith('@') ? [...(groups.get(i) ?? [])] : [i])));
  const allowed = resolve(filters.filter((f) => !f.startsWith('~')).flatMap((f) => f.split(/\s+/)));
  for (const denied of resolve(filters.filter((f) => f.startsWith('~')).flatMap((f) => f.slice(1).split(/\s+/)))) allowed.delete(denied);
  return allowed;
}

/**
 * System calls (and socket families) the daemon made, from `strace -f`: from the execve of node
 * on (before it, setpriv does what systemd does before it applies the filter).
 */
function tracedCalls(trace: string): { calls: Map<string, string>; families: Set<string> } {
  /** Each call with the first line that made it, for the message when one is refused. */
  const calls = new Map<string, string>();
  const families = new Set<string>();
  let confined = false;
  for (const line of trace.split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
    if (!m) continue;
    const call = m[1]!;
    if (!confined) {
      confined = call === 'execve' && line.includes(`execve("${process.execPath}",`) && / = 0$/.test(line);
      continue;
    }
    if (!calls.has(call)) calls.set(call, line.slice(0, 200));
    const family = call === 'socket' ? /socket\((AF_[A-Z0-9]+)/.exec(line)?.[1] : undefined;
    if (family) families.add(family);
  }
  return { calls, families };
}

describe('deploy/knockgate.service: exposure at most 2.0, and the daemon still does everything under its settings', () => {
  it(`systemd-analyze security rates it at most ${MAX_EXPOSURE}, and systemd-analyze verify finds nothing wrong`, async () => {
    const { stdout } = await execFileAsync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    const score = Number(/Overall exposure level for knockgate\.service: ([\d.]+)/.exec(stdout)?.[1]);
    expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
    const verify = await execFileAsync('systemd-analyze', ['verify', UNIT]).then(
      (r) => r.stderr + r.stdout,
      (e: { stderr?: string; stdout?: string }) => `${e.stderr ?? ''}${e.stdout ?? ''}`,
    );
    // /usr/bin/knockgate exists only where the package is installed; any other complaint is a real one.
    expect(verify.split('\n').filter((l) => l.trim() && !/\/usr\/bin\/knockgate/.test(l))).toEqual([]);
    const s = await unitSettings();
    expect(s.get('Type')).toEqual(['notify']);
    expect(s.get('RestartPreventExitStatus')).toEqual(['78']);
    for (const key of ['StateDirectory', 'RuntimeDirectory', 'LogsDirectory']) expect(s.get(key)).toEqual(['knockgate']);
  }, 30_000);

  describe('its settings applied by hand (systemd is not PID 1 here): nobody with the two capabilities, a read-only file system but for its three directories, under strace', () => {
    let dl: DaemonLab;
    let dirs: { state: string; run: string; logs: string; trace: string };
    let settings: Map<string, string[]>;

    beforeAll(async () => {
      settings = await unitSettings();
      dl = await createDaemonLab({ extraHosts: 1 });
      await chmod(dl.dir, 0o711);
      const { stdout: uid } = await execFileAsync('id', ['-u', 'nobody']);
      const { stdout: group } = await execFileAsync('getent', ['group', 'nogroup']);
      dirs = { state: join(dl.dir, 'lib'), run: join(dl.dir, 'run'), logs: join(dl.dir, 'log'), trace: join(dl.dir, 'trace') };
      // What StateDirectory=, RuntimeDirectory= and LogsDirectory= make: the daemon's own, writable.
      for (const [name, dir] of Object.entries(dirs)) {
        await mkdir(dir, { mode: name === 'state' ? 0o700 : 0o750 });
        if (name !== 'trace') await chown(dir, Number(uid.trim()), Number(group.split(':')[2]));
      }
      const config = join(dl.dir, 'knockgate.toml');
      await writeFile(
        config,
        labConfig(dirs.state, labDoor({ open_for: '"60s"' }), `log_file = "${join(dirs.logs, 'knockgate.log')}"\npid_file = "${join(dirs.run, 'knockgate.pid')}"\n`, 'info').replace(
          `control_socket = "${join(dirs.state, 'control.sock')}"`,
          `control_socket = "${join(dirs.run, 'control.sock')}"`,
        ),
      );
      await chmod(config, 0o644);
      const caps = settings.get('AmbientCapabilities')![0]!.split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
      const plus = caps.map((c) => `+${c}`).join(',');
      // ProtectSystem=strict: everything read-only but the unit's own directories (bound before / turns read-only, so they stay writable).
      const sandbox = [...Object.values(dirs).map((d) => `mount --bind ${d} ${d}`), 'mount -o remount,bind,ro /', 'exec "$@"'].join(' && ');
      const argv = [
        ...['unshare', '--mount', '--propagation', 'private', 'sh', '-c', sandbox, 'sh'],
        ...['strace', '-f', '-qq', '-o', join(dirs.trace, 'trace')],
        ...['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', `--inh-caps=-all,${plus}`, `--ambient-caps=${plus}`, `--bounding-set=-all,${plus}`, '--no-new-privs', '--'],
        ...[process.execPath, CLI, 'serve', '--config', config],
      ];
      dl.daemon = dl.lab.spawn(dl.lab.server, argv[0]!, argv.slice(1));
      await waitFor(async () => (await readFile(join(dirs.logs, 'knockgate.log'), 'utf8').catch(() => '')).includes('"outcome":"started"') || undefined, {
        timeoutMs: 30_000,
        what: 'the daemon to log "started" into its LogsDirectory',
      });
    }, 90_000);
    afterAll(async () => {
      // strace only detaches on a signal: end the traced daemon itself (by the pid it wrote), then strace.
      const pid = Number(await readFile(join(dirs?.run ?? '', 'knockgate.pid'), 'utf8').catch(() => ''));
      if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
      await dl?.stopDaemon('SIGKILL');
      await dl?.destroy();
    });

    it('captures (a knock opens), runs nft (a flushed table comes back), writes its state, log and pid, and answers on its socket', async () => {
      const { lab } = dl;
      expect((await dl.connect(lab.client)).connected).toBe(false);
      await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
      await waitFor(async () => (await dl.connect(lab.client, 22, 1)).connected || undefined, { timeoutMs: 10_000, intervalMs: 200, what: 'the knock to open the port' });
      await lab.exec(lab.server, 'nft', ['flush', 'ruleset']);
      await waitFor(async () => (await readFile(join(dirs.logs, 'knockgate.log'), 'utf8')).includes('"outcome":"enforcement-restored"') || undefined, { timeoutMs: 10_000, what: 'the restore' });
      expect((await dl.connect(lab.client)).connected).toBe(true);
      expect((await dl.connect(lab.others[0]!)).connected).toBe(false);
      const status = (await askDaemon(join(dirs.run, 'control.sock'), 'status')) as DaemonStatus;
      expect(status.grants.map((g) => g.src)).toContain(lab.client.ip4);
      expect(Number(await readFile(join(dirs.run, 'knockgate.pid'), 'utf8'))).toBeGreaterThan(0);
      expect(existsSync(join(dirs.state, 'knockd-commands.json')) || existsSync(dirs.state)).toBe(true);
    }, 60_000);

    it('stops cleanly, and every system call and socket family it used is one the unit allows', async () => {
      // The spawned process is strace; the daemon is the traced node, whose pid it wrote. strace exits with it, with its status.
      const exited = new Promise<number | null>((resolve) => dl.daemon!.once('exit', (code) => resolve(code)));
      process.kill(Number(await readFile(join(dirs.run, 'knockgate.pid'), 'utf8')), 'SIGTERM');
      expect(await exited).toBe(0);
      const { calls, families } = tracedCalls(await readFile(join(dirs.trace, 'trace'), 'utf8'));
      expect(calls.size).toBeGreaterThan(30);
      const allowed = allowedCalls(settings.get('SystemCallFilter')!, await syscallGroups());
      expect([...calls].filter(([c]) => !allowed.has(c)).map(([, line]) => line)).toEqual([]);
      const families4unit = new Set(settings.get('RestrictAddressFamilies')![0]!.split(/\s+/));
      expect([...families].filter((f) => !families4unit.has(f))).toEqual([]);
    }, 30_000);
  });
});
