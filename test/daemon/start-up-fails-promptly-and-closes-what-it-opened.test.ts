import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { run, type LabSpawnOptions } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

/**
 * Far above what a failed start takes (node's own start-up is most of it), far below "hangs": on
 * the old code each of these stayed alive until killed.
 */
const EXIT_WITHIN_MS = 5_000;
const SPA_PORT = 62201;

interface Exit {
  code: number | null;
  stderr: string;
  ms: number;
}

describe('serve: a start that cannot bring every door live exits at once with one line and leaves nothing running', () => {
  let dl: DaemonLab;
  /** PIDs in the server namespace before each start: the echo service and whatever the test put there. */
  let before: Set<number>;

  beforeAll(async () => {
    dl = await createDaemonLab({});
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  // Asked from outside the namespace, so the asking process is not counted.
  const pidsInServer = async () => new Set((await run('ip', ['netns', 'pids', dl.lab.server.ns])).split('\n').filter(Boolean).map(Number));

  async function serveUntilExit(configText: string, spawn: LabSpawnOptions = {}, onSpawned?: (pid: number) => Promise<void>): Promise<Exit> {
    const file = join(dl.dir, `knockgate-${randomBytes(3).toString('hex')}.toml`);
    await writeFile(file, configText);
    before = await pidsInServer();
    const started = Date.now();
    const child = dl.lab.spawn(dl.lab.server, process.execPath, [CLI, 'serve', '--config', file], spawn);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    if (onSpawned) await onSpawned(child.pid!);
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), EXIT_WITHIN_MS + 10_000))]);
    if (code === 'hung') {
      child.kill('SIGKILL');
      throw new Error(`serve did not exit:\n${stderr}`);
    }
    return { code, stderr, ms: Date.now() - started };
  }

  async function expectNothingLeft(): Promise<void> {
    // The nft children (interactive, one-shot, monitor) went with the daemon.
    await waitFor(async () => [...(await pidsInServer())].every((p) => before.has(p)) || undefined, { timeoutMs: 2_000, what: 'no process of the daemon left in the namespace' });
  }

  function expectOneLine(exit: Exit, code: number, pattern: RegExp): void {
    expect(exit.code).toBe(code);
    expect(exit.ms).toBeLessThan(EXIT_WITHIN_MS);
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^knockgate: cannot start: /);
    expect(lines[0]).toMatch(pattern);
    expect(lines[0]).not.toMatch(/--help/);
  }

  it('a capture interface that does not exist: exit 78 (configuration)', async () => {
    const exit = await serveUntilExit(labConfig(dl.dir, labDoor()).replace('interfaces = ["eth0"]', 'interfaces = ["eth9"]'));
    expectOneLine(exit, 78, /daemon\.interfaces: capture interface eth9 does not exist/);
    await expectNothingLeft();
  }, 30_000);

  it('a capture interface that is down: exit 1', async () => {
    await dl.lab.exec(dl.lab.server, 'ip', ['link', 'set', 'eth0', 'down']);
    try {
      const exit = await serveUntilExit(labConfig(dl.dir, labDoor()));
      expectOneLine(exit, 1, /capture interface eth0 is down/);
      await expectNothingLeft();
    } finally {
      await dl.lab.exec(dl.lab.server, 'ip', ['link', 'set', 'eth0', 'up']);
    }
  }, 30_000);

  it('an unwritable pid_file: exit 78', async () => {
    const ro = join(dl.dir, 'ro');
    await mkdir(ro, { recursive: true });
    // A read-only mount, as ProtectSystem=strict makes of /var/log and /run outside the unit's own directories.
    await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]);
    try {
      const exit = await serveUntilExit(labConfig(dl.dir, labDoor(), `pid_file = "${join(ro, 'knockgate.pid')}"\n`));
      expectOneLine(exit, 78, /daemon\.pid_file: pid file .*knockgate\.pid cannot be created in .*: on a read-only file system/);
      await expectNothingLeft();
    } finally {
      await run('umount', [ro]);
    }
  }, 30_000);

  it('the SPA port already in use: exit 1, the nftables table it had installed keeps ports closed, its nft is gone', async () => {
    const squatter = dl.lab.spawn(dl.lab.server, process.execPath, ['-e', `require('dgram').createSocket('udp6').bind(${SPA_PORT}, () => console.log('bound'))`]);
    await new Promise<void>((resolve) => squatter.stdout!.once('data', () => resolve()));
    try {
      const spa = `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n[spa_door.ops]\nkey_base64 = "${randomBytes(32).toString('base64')}"\nhmac_key_base64 = "${randomBytes(64).toString('base64')}"\nopen = ["22/tcp"]\n`;
      const exit = await serveUntilExit(labConfig(dl.dir, spa));
      expectOneLine(exit, 1, new RegExp(`SPA port udp/${SPA_PORT} is already in use`));
      await expectNothingLeft();
      // Closed as a clean stop with on_stop = "close" leaves it: protected, no grants.
      expect(await dl.lab.exec(dl.lab.server, 'nft', ['list', 'set', 'inet', 'knockgate', 'protected'])).toMatch(/tcp \. 22/);
      expect((await dl.connect(dl.lab.client)).connected).toBe(false);
    } finally {
      squatter.kill('SIGKILL');
      await dl.lab.exec(dl.lab.server, 'nft', ['delete', 'table', 'inet', 'knockgate']).catch(() => undefined);
    }
  }, 30_000);

  it('the metrics port already in use: exit 1 naming [metrics] listen, nothing left', async () => {
    const squatter = dl.lab.spawn(dl.lab.server, process.execPath, ['-e', `require('net').createServer().listen(9464, '127.0.0.1', () => console.log('bound'))`]);
    await new Promise<void>((resolve) => squatter.stdout!.once('data', () => resolve()));
    try {
      const exit = await serveUntilExit(labConfig(dl.dir, labDoor(), '[metrics]\nlisten = "127.0.0.1:9464"\n'));
      expectOneLine(exit, 1, /\[metrics\] listen = "127\.0\.0\.1:9464": cannot listen \(EADDRINUSE\)/);
      await expectNothingLeft();
    } finally {
      squatter.kill('SIGKILL');
      await dl.lab.exec(dl.lab.server, 'nft', ['delete', 'table', 'inet', 'knockgate']).catch(() => undefined);
    }
  }, 30_000);

  it('nft failing (a host chain that does not exist): exit 1 with the gate\'s reason', async () => {
    const exit = await serveUntilExit(labConfig(dl.dir, labDoor(), '[nftables]\nhost_chain = "inet nosuch input"\n'));
    expectOneLine(exit, 1, /host chain inet nosuch input not found/);
    await expectNothingLeft();
  }, 30_000);

  it('SIGTERM while nft hangs during start: exits at once, the stuck nft killed', async () => {
    // An nft that never answers: the first call marks a file and sleeps.
    const bin = join(dl.dir, 'stuck-bin');
    await mkdir(bin, { recursive: true });
    const marker = join(dl.dir, 'nft-called');
    await writeFile(join(bin, 'nft'), `#!/bin/sh\ntouch ${marker}\nexec sleep 60\n`);
    await chmod(join(bin, 'nft'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
    let signalledAt = 0;
    const exit = await serveUntilExit(labConfig(dl.dir, labDoor()), { env }, async (pid) => {
      await waitFor(async () => (await import('node:fs')).existsSync(marker) || undefined, { timeoutMs: 10_000, what: 'the daemon to call nft' });
      signalledAt = Date.now();
      process.kill(pid, 'SIGTERM');
    });
    expect(exit.code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
    expect(exit.stderr).toBe('');
    await expectNothingLeft();
  }, 40_000);
});
