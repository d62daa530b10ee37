import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CONFIG } from '../../src/cli/errors.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { formatGrantJournal } from '../../src/store/grant-journal-format.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

const NOBODY = 65534;

/** `knockgate COMMAND ARGS`, to its exit (serve refuses before it captures anything); bounded at 20 s. */
function cli(command: 'serve' | 'check', args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, command, ...args], { timeout: 20_000 }, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
  });
}
const serve = (args: string[]) => cli('serve', args);

/** A version 1 journal as an attacker would plant it: a grant whose stop command makes `pwned`. */
function plantedJournal(pwned: string): string {
  const grant = { id: 'ssh|192.0.2.9', door: 'ssh', src: '192.0.2.9', family: 4, ports: [], grantedAt: 0, expiresAt: 1, gate: 'knockd-command', data: { stop: `touch ${pwned}` } };
  return JSON.stringify({ version: 1, grants: [grant] });
}

describe('serve trusts nothing on disk it did not write', () => {
  let dir: string;
  let pwned: string;
  const knockdConf = (state: string) => ['--knockd-conf', join(dir, 'knockd.conf'), '--state-dir', state, '--control-socket', join(dir, 'control.sock')];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-trust-'));
    pwned = join(dir, 'pwned');
    await writeFile(join(dir, 'knockd.conf'), `[options]\n  Interface = eth0\n[ssh]\n  sequence = 7000,8000\n  start_command = true\n  stop_command = true\n`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a state dir another user owns (and can write), with the fix, and never runs the journal planted in it', async () => {
    const state = join(dir, 'theirs');
    await mkdir(state, { mode: 0o700 });
    await writeFile(join(state, 'knockd-commands.json'), plantedJournal(pwned));
    await chown(state, NOBODY, NOBODY);
    await chown(join(state, 'knockd-commands.json'), NOBODY, NOBODY);
    const { code, stderr } = await serve(knockdConf(state));
    expect(code).toBe(EXIT_CONFIG);
    expect(stderr).toContain(`state_dir ${state} is owned by uid ${NOBODY}, not by the daemon's user (uid 0)`);
    expect(stderr).toContain(`chown 0 ${state}`);
    expect(existsSync(pwned)).toBe(false);

    // `check` says the same before serve is ever tried.
    const withState = join(dir, 'with-state.toml');
    await writeFile(withState, labConfig(state, labDoor()));
    expect(await cli('check', ['--config', withState])).toMatchObject({ code: 1, stderr: expect.stringContaining(`state_dir ${state} is owned by uid ${NOBODY}`) });
  });

  it('refuses a state dir others can write, a symlinked state dir, and a journal another user planted in ours', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    expect(await serve(knockdConf(open))).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`run chmod 0700 ${open}`) });

    const ours = join(dir, 'ours');
    await mkdir(ours, { mode: 0o700 });
    await symlink(ours, join(dir, 'link'));
    expect(await serve(knockdConf(join(dir, 'link')))).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining('is a symbolic link') });

    await writeFile(join(ours, 'knockd-commands.json'), plantedJournal(pwned), { mode: 0o600 });
    await chown(join(ours, 'knockd-commands.json'), NOBODY, NOBODY);
    expect(await serve(knockdConf(ours))).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`grant journal ${join(ours, 'knockd-commands.json')} is owned by uid ${NOBODY}`) });
    expect(existsSync(pwned)).toBe(false);
  });

  it('refuses a journal file that is a symbolic link', async () => {
    const state = join(dir, 'linked-journal');
    await mkdir(state, { mode: 0o700 });
    await writeFile(join(dir, 'journal-elsewhere'), formatGrantJournal([]), { mode: 0o600 });
    await symlink(join(dir, 'journal-elsewhere'), join(state, 'knockd-commands.json'));
    expect(await serve(knockdConf(state))).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining('is a symbolic link') });
  });

  it('refuses a pid_file or log_file that is a symbolic link, and writes nothing through it', async () => {
    const state = join(dir, 'state-for-links');
    await mkdir(state, { mode: 0o700 });
    const victim = join(dir, 'victim');
    await writeFile(victim, 'precious\n');
    await symlink(victim, join(dir, 'knockgate.pid'));
    await symlink(victim, join(dir, 'knockgate.log'));
    const conf = (extra: string) => join(dir, `links-${extra}.toml`);
    await writeFile(conf('pid'), labConfig(state, labDoor(), `pid_file = "${join(dir, 'knockgate.pid')}"`));
    await writeFile(conf('log'), labConfig(state, labDoor(), `log_file = "${join(dir, 'knockgate.log')}"`));
    expect(await serve(['--config', conf('pid')])).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`pid_file ${join(dir, 'knockgate.pid')} is a symbolic link`) });
    expect(await serve(['--config', conf('log')])).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`log_file ${join(dir, 'knockgate.log')} is a symbolic link`) });
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });
});

describe('serve with a journal it may trust makes every stop from the config, never from the journal', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab();
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('sets aside, and never runs, a journaled stop for a door the config does not have (a config with no command doors)', async () => {
    const pwned = join(dl.dir, 'pwned');
    await writeFile(join(dl.dir, 'knockd-commands.json'), plantedJournal(pwned), { mode: 0o600 });
    await dl.serve(labConfig(dl.dir, labDoor()));
    const aside = await dl.waitForLog((e) => e.outcome === 'stop-set-aside', 5_000, 'the set-aside report');
    expect(aside).toMatchObject({ level: 50, door: 'ssh', src: '192.0.2.9' });
    await dl.stopDaemon();
    expect(existsSync(pwned)).toBe(false);
    expect(await readFile(join(dl.dir, 'knockd-commands.json.set-aside'), 'utf8')).toContain('"door":"ssh"');
  }, 30_000);
});
