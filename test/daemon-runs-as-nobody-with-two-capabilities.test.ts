import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const execFileAsync = promisify(execFile);
const UNIT = fileURLToPath(new URL('../deploy/knockgate.service', import.meta.url));

/** What deploy/knockgate.service gives the daemon: user nobody here, exactly these two capabilities. */
const AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all,+net_raw,+net_admin', '--ambient-caps=+net_raw,+net_admin', '--bounding-set=-all,+net_raw,+net_admin', '--'];

describe('daemon: runs as a non-root user with only CAP_NET_RAW and CAP_NET_ADMIN, as the systemd unit does', () => {
  let dl: DaemonLab;
  let stateDir: string;
  beforeAll(async () => {
    dl = await createDaemonLab();
    // The test's temp dir is root's; nobody gets its own state directory inside it, as systemd's StateDirectory= does.
    await chmod(dl.dir, 0o711);
    stateDir = join(dl.dir, 'state');
    await mkdir(stateDir, { mode: 0o700 });
    const { uid, gid } = await ids('nobody', 'nogroup');
    await chown(stateDir, uid, gid);
    const file = join(dl.dir, 'knockgate.toml');
    await writeFile(
      file,
      labConfig(
        stateDir,
        `[door.ssh]
sequence = ["7000:tcp", "8000:udp", "9000:tcp"]
open = ["${SERVICE_PORT}/tcp"]
open_for = "20s"
`,
      ),
    );
    await chmod(file, 0o644);
    await dl.serveWith(['--config', file], AS_NOBODY);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('runs as nobody with exactly the two capabilities, and the knock still opens the port', async () => {
    const status = await readFile(`/proc/${dl.daemon!.pid}/status`, 'utf8');
    const field = (name: string) => status.match(new RegExp(`^${name}:\\s+(\\S+)`, 'm'))?.[1];
    const { uid } = await ids('nobody', 'nogroup');
    expect(field('Uid')).toBe(String(uid));
    // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
    expect(BigInt(`0x${field('CapEff')}`)).toBe((1n << 12n) | (1n << 13n));

    const { lab } = dl;
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    expect((await dl.connect(lab.client)).connected).toBe(true);

    const socket = await stat(join(stateDir, 'control.sock'));
    expect(socket.uid).toBe(uid);
    const out = await lab.exec(lab.server, process.execPath, ['bin/knockgate.js', 'status', '--socket', join(stateDir, 'control.sock'), '--json']);
    expect((JSON.parse(out) as { grants: Array<{ src: string }> }).grants.map((g) => g.src)).toContain(lab.client.ip4);
  }, 30_000);

  it('stops cleanly on SIGTERM without root (grants removed, port closed)', async () => {
    await dl.stopDaemon('SIGTERM');
    expect(dl.daemon!.exitCode).toBe(0);
    expect((await dl.connect(dl.lab.client)).connected).toBe(false);
  }, 20_000);

  it('the systemd unit passes systemd-analyze verify', async () => {
    const verify = await execFileAsync('systemd-analyze', ['verify', UNIT], { timeout: 30_000 }).then(
      (r) => ({ code: 0, out: r.stderr + r.stdout }),
      (e: { code?: number; stderr?: string; stdout?: string }) => ({ code: e.code ?? -1, out: `${e.stderr ?? ''}${e.stdout ?? ''}` }),
    );
    // The unit names /usr/bin/knockgate, which only exists where the package is installed; every other complaint is a real one.
    const complaints = verify.out.split('\n').filter((l) => l.trim() && !/Command .* is not executable|No such file or directory|\/usr\/bin\/knockgate/.test(l));
    expect(complaints).toEqual([]);
    expect(await readFile(UNIT, 'utf8')).toMatch(/^AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$/m);
  }, 40_000);
});

async function ids(user: string, group: string): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([execFileAsync('id', ['-u', user]), execFileAsync('getent', ['group', group])]);
  return { uid: Number(uid.trim()), gid: Number(gid.split(':')[2]) };
}
