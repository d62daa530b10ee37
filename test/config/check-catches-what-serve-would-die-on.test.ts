import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { run } from '../../src/lab/netns.js';

const execFileAsync = promisify(execFile);

/** `knockgate check ARGS` as an operator runs it (main.ts and all): exit code and both streams. */
async function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'check', ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('check catches what serve would die on, names every bad item, and never blames usage', () => {
  let dir: string;
  let readOnly: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-check-'));
    // What ProtectSystem=strict makes of /var/log for the daemon: a read-only file system.
    readOnly = join(dir, 'var-log');
    await mkdir(readOnly);
    await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', readOnly]);
  });
  afterAll(async () => {
    await run('umount', [readOnly]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const daemon = (extra = '') => `[daemon]\nstate_dir = "${dir}/state"\ncontrol_socket = "${dir}/run/control.sock"\n${extra}`;

  it('a knockd.conf LogFile on a read-only /var/log, as under the unit', async () => {
    const file = join(dir, 'knockd.conf');
    await writeFile(file, `[options]\n  LogFile = ${readOnly}/knockd.log\n[ssh]\n  sequence = 7000,8000,9000\n  command = /bin/true %IP%\n`);
    const r = await check('--knockd-conf', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file}: LogFile: log file ${readOnly}/knockd\\.log cannot be created in ${readOnly}: on a read-only file system; under deploy/knockgate\\.service .*/var/log/knockgate`, 'm'));
    expect(r.stderr).not.toMatch(/--help/);
  });

  it('a log_file that cannot be written, a capture interface that does not exist, colliding sequences and a missing program: all at once', async () => {
    const file = join(dir, 'many.toml');
    await writeFile(
      file,
      `${daemon(`log_file = "${readOnly}/knockgate.log"\ninterfaces = ["eth0", "nosuch0"]\n`)}
[door.a]
sequence = ["7000", "8000", "9000"]
open = ["22/tcp"]
[door.b]
sequence = ["7000", "8000", "9000"]
open = ["2222/tcp"]
[door.c]
sequence = ["7000", "8000", "9000", "1000"]
open = ["2223/tcp"]
[door.hook]
sequence = ["6000", "6001"]
open = ["22/tcp"]
gate = "command"
start = ["/usr/local/sbin/knockgate-no-such-helper", "{src}"]
`,
    );
    const r = await check('--config', file);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/: door\.b\.sequence: doors a and b have the same sequence/),
        expect.stringMatching(/: door\.c\.sequence: the sequence of door a is the start of door c's/),
        expect.stringMatching(/: daemon\.interfaces: capture interface nosuch0 does not exist/),
        expect.stringMatching(/: daemon\.log_file: log file .*knockgate\.log cannot be created in .*: on a read-only file system/),
        expect.stringMatching(/: door\.hook\.start: \/usr\/local\/sbin\/knockgate-no-such-helper does not exist/),
      ]),
    );
    expect(r.stderr).not.toMatch(/--help/);
  });

  it('every bad item of a list, not only the first, and a guess for a misspelt key', async () => {
    const file = join(dir, 'items.toml');
    await writeFile(file, `${daemon()}[door.ssh]\nsequence = ["7000", "70x0", "8000:sctp"]\nopen = ["22/tcp", "bad", "99999/tcp"]\nopen_fro = "30s"\n`);
    const r = await check('--config', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/door\.ssh\.sequence: knock 2: .*; knock 3: /);
    expect(r.stderr).toMatch(/door\.ssh\.open: item 2: .*; item 3: /);
    expect(r.stderr).toMatch(/door\.ssh\.open_fro: unknown setting \(did you mean open_for\?\)/);
    expect(r.stderr).not.toMatch(/--help/);
  });

  it('a knockd.conf option misspelt', async () => {
    const file = join(dir, 'typo.conf');
    await writeFile(file, `[options]\n  LogFlie = /tmp/x.log\n[ssh]\n  sequence = 7000\n  seq_timout = 5\n  command = /bin/true\n`);
    const r = await check('--knockd-conf', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/options\.LogFlie: unknown option \(did you mean LogFile\?\)/);
    expect(r.stderr).toMatch(/ssh\.seq_timout: unknown option \(did you mean Seq_Timeout\?\)/);
  });
});
