import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCommandCli, type CommandCli } from '../support/command-cli.js';
import { parseFieldDumps } from '../fixtures/spa-field-dump.js';

const execFileAsync = promisify(execFile);
const hasFwknop = existsSync('/usr/bin/fwknop');
const KEY = Buffer.alloc(32, 0x17).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0x71).toString('base64');
const SAME = ['Username', 'Message Type', 'Message String', 'Nat Access', 'Client Timeout', 'Digest Type', 'HMAC Type', 'Encryption Mode'];

describe('knockgate spa -n reads the ~/.fwknoprc that fwknop --save-rc-stanza writes', () => {
  let cli: CommandCli;
  let home: string;
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'kgt-rc-'));
    cli = await buildCommandCli('spa');
  }, 60_000);
  afterAll(async () => {
    await cli?.dispose();
    rmSync(home, { recursive: true, force: true });
  });
  const env = () => ({ ...process.env, HOME: home, LOGNAME: 'root' });

  it.skipIf(!hasFwknop)('builds the message fwknop builds from the same stanza (VERBOSE, NO_SAVE_ARGS, TIME_OFFSET, SERVER_RESOLVE_IPV4 included)', async () => {
    const rc = join(home, 'fwknoprc');
    const options = ['-A', 'tcp/22,udp/53', '-a', '10.77.0.2', '-D', '10.77.0.1', '-f', '45', '-U', 'alice', '-m', 'sha512', '--time-offset-minus', '60s', '-v', '--no-save-args'];
    await execFileAsync('fwknop', ['--rc-file', rc, '-n', 'bastion', '--save-rc-stanza', ...options, '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY, '--hmac-digest-type', 'sha384', '-T'], { env: env() });
    const written = readFileSync(rc, 'utf8');
    for (const line of ['VERBOSE', 'NO_SAVE_ARGS', 'TIME_OFFSET']) expect(written).toMatch(new RegExp(`^${line}\\s`, 'm'));
    // fwknop reads SERVER_RESOLVE_IPV4 (it does not save it); a stanza fwknop never reads here has a
    // line no fwknop knows and one knockgate refuses: neither breaks the stanza used.
    writeFileSync(rc, `${written.replace('[bastion]\n', '[bastion]\nSERVER_RESOLVE_IPV4 Y\n')}\n[other]\nNOT_A_VARIABLE yes\nUSE_GPG Y\n`, { mode: 0o600 });

    const { stdout } = await execFileAsync('fwknop', ['--rc-file', rc, '-n', 'bastion', '-T', '--no-save-args'], { env: env() });
    const theirs = parseFieldDumps(stdout)[0]!;
    const ours = await cli.run(undefined, ['--rc-file', rc, '-n', 'BASTION', '-T'], { env: env() });
    expect(ours.code).toBe(0);
    expect(ours.stderr).not.toMatch(/error|warning/);
    // VERBOSE Y is honoured: the fields are printed without -v.
    const mine = parseFieldDumps(ours.stdout)[0]!;
    for (const field of SAME) expect(mine.get(field), field).toBe(theirs.get(field));
    // TIME_OFFSET -60: both timestamps are a minute behind the clock.
    const now = Math.floor(Date.now() / 1000);
    for (const t of [theirs, mine]) expect(Math.abs(now - 60 - Number(t.get('Timestamp')))).toBeLessThanOrEqual(5);
  });

  it('honours KEY_FILE and HMAC_KEY_FILE (each its own key, "server: key" lines) and names the line of a bad value in the stanza used', async () => {
    const keyFile = join(home, 'keys');
    const hmacFile = join(home, 'hmac-keys');
    writeFileSync(keyFile, '10.9.9.9: wrong\n10.77.0.1: an encryption passphrase\n', { mode: 0o600 });
    writeFileSync(hmacFile, `10.77.0.1: ${'h'.repeat(40)}\n`, { mode: 0o600 });
    const rc = join(home, 'rc-files');
    writeFileSync(rc, ['[default]', 'GPG_NO_SIGNING_PW N', '[files]', 'SPA_SERVER: 10.77.0.1', 'ACCESS tcp/22', 'ALLOW_IP 10.77.0.2', `KEY_FILE ${keyFile}`, `HMAC_KEY_FILE ${hmacFile}`, '[broken]', 'FW_TIMEOUT soon', ''].join('\n'), { mode: 0o600 });
    const ok = await cli.run(undefined, ['--rc-file', rc, '-n', 'files', '-T', '-v'], { env: env() });
    expect(ok.stderr).not.toMatch(/error|warning/);
    expect(parseFieldDumps(ok.stdout)[0]?.get('HMAC Type')).toBe('3 (SHA256)');
    const bad = await cli.run(undefined, ['--rc-file', rc, '-n', 'broken', '-T', '-D', '10.77.0.1', '-A', 'tcp/22', '-a', '10.77.0.2', '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY], { env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${rc}:10: FW_TIMEOUT:`);
  });
});
