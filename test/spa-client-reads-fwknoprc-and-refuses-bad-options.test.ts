import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCommandCli, type CommandCli } from './support/command-cli.js';
import { parseFieldDumps } from './fixtures/spa-field-dump.js';

const execFileAsync = promisify(execFile);
const hasFwknop = existsSync('/usr/bin/fwknop');
const KEY = Buffer.alloc(32, 0x44).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0x55).toString('base64');
const BASE = ['-D', '10.77.0.1', '-A', 'tcp/22', '-a', '10.77.0.2', '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];

describe('knockgate spa reads rc files as fwknop does and refuses what it cannot use', () => {
  let cli: CommandCli;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'kgt-spa-home-'));
    cli = await buildCommandCli('spa');
  }, 60_000);

  afterAll(async () => {
    await cli?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  const spa = (args: string[]) => cli.run(undefined, args, { env: { HOME: home, LOGNAME: 'root' } });

  function writeRc(lines: string[]): string {
    const file = join(home, `rc-${Math.random().toString(16).slice(2)}`);
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    return file;
  }

  it.skipIf(!hasFwknop)('builds the same message as fwknop -T from the same rc stanza (separators, comments, case of values)', async () => {
    const rc = writeRc([
      '[default]',
      'DIGEST_TYPE   SHA512',
      '[srv]',
      '  SPA_SERVER\t10.77.0.1',
      'ACCESS tcp/22,udp/53 # the services',
      'ALLOW_IP 10.77.0.2',
      `KEY_BASE64 ${KEY}`,
      `HMAC_KEY_BASE64 ${HMAC_KEY}`,
      'HMAC_DIGEST_TYPE sha384;',
      'FW_TIMEOUT 90',
      'SPOOF_USER dave',
      'NAT_ACCESS 192.168.1.9,2222',
    ]);
    const { stdout } = await execFileAsync('fwknop', ['--rc-file', rc, '-n', 'srv', '--no-save-args', '-T', '-v'], { env: { ...process.env, HOME: home }, timeout: 20_000 });
    const theirs = parseFieldDumps(stdout)[0]!;
    const ours = await spa(['--rc-file', rc, '-n', 'srv', '-T', '-v']);
    expect(ours.stderr).not.toMatch(/error|warning/);
    expect(ours.code).toBe(0);
    const mine = parseFieldDumps(ours.stdout)[0]!;
    for (const field of ['Username', 'Message Type', 'Message String', 'Nat Access', 'Client Timeout', 'Digest Type', 'HMAC Type', 'Encryption Mode']) {
      expect(mine.get(field), field).toBe(theirs.get(field));
    }
  });

  it('names the rc file, line and variable of an unknown or unsupported variable, and exits 2', async () => {
    const rc = writeRc(['[srv]', 'SPA_SERVER 10.77.0.1', 'spa_server_port 62201', 'USE_GPG Y', 'RESOLVE_IP_HTTPS N']);
    const result = await spa(['--rc-file', rc, '-n', 'srv', '-T']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${rc}:3: spa_server_port: unknown variable (fwknop names are upper case: SPA_SERVER_PORT)`);
    expect(result.stderr).toContain(`${rc}:4: USE_GPG: GPG encryption is not supported`);
    expect(result.stderr).not.toContain(':5:');
  });

  it('names the line of a bad value, and of a missing stanza lists the ones there are', async () => {
    const rc = writeRc(['[srv]', 'SPA_SERVER 10.77.0.1', 'ACCESS tcp/99999', `KEY_BASE64 ${KEY}`, 'ALLOW_IP 10.77.0.2', '[lab]', 'ACCESS tcp/22']);
    const bad = await spa(['--rc-file', rc, '-n', 'srv', '-T']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${rc}:3: ACCESS: "tcp/99999": access entry must be tcp/<1-65535> or udp/<1-65535>`);
    const missing = await spa(['--rc-file', rc, '-n', 'nosuch', '-T']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no stanza [nosuch] (-n nosuch); it has [srv], [lab]');
  });

  it('lets command-line options override the stanza', async () => {
    const rc = writeRc(['[srv]', 'SPA_SERVER 10.77.0.1', 'ACCESS tcp/22', 'ALLOW_IP 10.77.0.2', 'KEY_BASE64 bm90LXRoaXMta2V5', `HMAC_KEY_BASE64 ${HMAC_KEY}`]);
    const result = await spa(['--rc-file', rc, '-n', 'srv', '-A', 'udp/53', '--key-base64-rijndael', KEY, '-T', '-v']);
    expect(result.code).toBe(0);
    expect(parseFieldDumps(result.stdout)[0]!.get('Message String')).toBe('10.77.0.2,udp/53');
  });

  it('refuses -R (it needs an Internet service) and points to -a and -s', async () => {
    const result = await spa([...BASE.filter((a) => a !== '-a' && a !== '10.77.0.2'), '-R', '-T']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/-R\/--resolve-ip-https .*-a\/--allow-ip ADDRESS, or -s/);
  });

  it.each([
    [['-f', '70000'], 'bad -f/--fw-timeout "70000": fwknopd 2.6.10 decodes no client timeout over 65536 seconds'],
    [['-P', 'icmp'], 'bad -P/--server-proto "icmp"'],
    [['-m', 'sha999'], 'bad -m/--digest-type "sha999": expected one of md5, sha1'],
    [['--hmac-digest-type', 'crc32'], 'bad --hmac-digest-type "crc32"'],
    [['-p', '0'], 'bad -p/--server-port "0": expected a whole number 1 .. 65535'],
    [['-N', '192.168.1.9'], 'bad -N/--nat-access "192.168.1.9": NAT access must be <host>,<1-65535>'],
    [['-U', 'a:b'], 'bad -U/--spoof-user "a:b": username must be printable ASCII'],
    [['-s'], 'use -a/--allow-ip or -s/--source-ip, not both'],
    [['-4', '-6'], 'use -4/--ipv4 or -6/--ipv6, not both'],
    [['--key-base64-hmac', KEY], 'bad --key-base64-hmac: encryption and HMAC keys must differ'],
  ])('refuses %j with a message naming the option, exit 2', async (extra, message) => {
    const result = await spa([...BASE, ...extra, '-T']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain(HMAC_KEY);
  });
});
