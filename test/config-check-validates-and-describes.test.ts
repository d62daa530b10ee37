import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_INVALID_CONFIG, registerCheck } from '../src/cli/commands/check.js';
import { ConfigError } from '../src/config/config-error.js';
import { MAX_CONFIG_BYTES } from '../src/config/knockgate-toml.js';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML, loadConfig } from '../src/config/load.js';
import { DEFAULTS } from '../src/config/defaults.js';
import { TcpFlag } from '../src/core/packet.js';

const EXAMPLES = resolve(import.meta.dirname, '../examples');
const dir = mkdtempSync(join(tmpdir(), 'kgt-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** examples/knockgate.toml with keys of its own in place of the published ones, mode 0600, as an operator installs it. */
function installedExample(): string {
  const text = readFileSync(join(EXAMPLES, 'knockgate.toml'), 'utf8')
    .replace(/^key_base64 = ".*"$/m, `key_base64 = "${randomBytes(32).toString('base64')}"`)
    .replace(/^hmac_key_base64 = ".*"$/m, `hmac_key_base64 = "${randomBytes(64).toString('base64')}"`);
  return write('installed-knockgate.toml', text);
}

interface CheckRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `knockgate check ARGS` through commander as main.ts will, capturing output and exit. */
async function check(...args: string[]): Promise<CheckRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('knockgate')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  registerCheck(program);
  try {
    await program.parseAsync(['check', ...args], { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { exitCode: err.exitCode, stdout, stderr };
  }
}

async function loadError(sources: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  const err = await loadConfig(sources).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('loadConfig', () => {
  it('with no file, resolves the embedded default: door ssh, 7000,8000,9000/tcp opening 22/tcp for 30 s', async () => {
    expect(DEFAULT_CONFIG_TOML).toContain('[door.ssh]');
    const config = await loadConfig({});
    expect(config.source).toEqual({ file: DEFAULT_CONFIG_NAME, kind: 'knockgate' });
    expect(config.doors).toEqual([
      {
        knock: {
          name: 'ssh',
          sequence: [7000, 8000, 9000].map((port) => ({ port, proto: 'tcp' })),
          seqTimeoutMs: DEFAULTS.seqTimeoutMs,
          tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack },
          targets: [],
          mode: 'strict',
          tolerateRepeat: true,
        },
        action: { kind: 'gate', gate: 'nftables', open: [{ port: 22, proto: 'tcp' }], openForMs: 30_000 },
        sequenceSource: { kind: 'static' },
      },
    ]);
    expect(config.daemon.interfaces).toEqual([]);
    expect(config.nftables).toEqual({ table: DEFAULTS.nftTable, mark: DEFAULTS.nftMark, onStop: 'close' });
  });

  it('reads a knockgate TOML file with --config and a knockd.conf with --knockd-conf', async () => {
    expect((await loadConfig({ config: installedExample() })).source.kind).toBe('knockgate');
    const knockd = await loadConfig({ knockdConf: join(EXAMPLES, 'knockd.conf') });
    expect(knockd.source).toEqual({ file: join(EXAMPLES, 'knockd.conf'), kind: 'knockd' });
    expect(knockd.doors.map((d) => d.knock.name)).toEqual(['openSSH', 'openHTTPS']);
  });

  it('names the file in the error when it is both, missing, not a file, or too large', async () => {
    const both = await loadError({ config: '/etc/knockgate.toml', knockdConf: '/etc/knockd.conf' });
    expect(both.message).toBe('/etc/knockgate.toml: given together with --knockd-conf /etc/knockd.conf; use one config file, either knockgate TOML or knockd.conf');
    expect((await loadError({ config: join(dir, 'absent.toml') })).message).toMatch(/absent\.toml: cannot be read: ENOENT/);
    expect((await loadError({ knockdConf: dir })).message).toBe(`${dir}: is not a regular file`);
    const big = write('big.conf', `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect((await loadError({ knockdConf: big })).message).toMatch(/big\.conf: is \d+ bytes; a config file is at most 1048576 bytes/);
  });
});

describe('knockgate check', () => {
  it('refuses examples/knockgate.toml as shipped: its SPA keys are published', async () => {
    const example = join(EXAMPLES, 'knockgate.toml');
    const run = await check('--config', example);
    expect(run.exitCode).toBe(EXIT_INVALID_CONFIG);
    expect(run.stderr).toMatch(new RegExp(`${example}:\\d+: spa_door\\.ops\\.key_base64: is a published example key`));
    expect(run.stderr).toMatch(new RegExp(`${example}:\\d+: spa_door\\.ops\\.hmac_key_base64: is a published example key`));
  });

  it('accepts examples/knockgate.toml with keys of its own and shows every door (and says this host lacks the helper programs it names)', async () => {
    const run = await check('--config', installedExample());
    expect(run.exitCode).toBe(EXIT_INVALID_CONFIG);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/knockgate\.toml: door\.vpn-helper\.start: \/usr\/local\/sbin\/vpn-allow does not exist/),
      expect.stringMatching(/knockgate\.toml: door\.vpn-helper\.stop: \/usr\/local\/sbin\/vpn-deny does not exist/),
    ]);
    expect(run.stdout).toContain('knockgate.toml: valid knockgate config, 3 doors');
    expect(run.stdout).toContain(
      [
        '  opens:     1194/udp for 1h via command',
        '  start:     ["/usr/local/sbin/vpn-allow","--from","{src}","--ports","{ports}","--until","{expires}"]',
        '  stop:      ["/usr/local/sbin/vpn-deny","--from","{src}"]  (each killed after 10s)',
      ].join('\n'),
    );
    expect(run.stdout).toContain('capture on: eth0');
    expect(run.stdout).toContain('nftables: table inet knockgate, mark 0x4b47, on stop close');
    expect(run.stdout).toContain(
      [
        'door ssh',
        '  sequence:  7113:tcp,31337:udp,4242:tcp  (3 knocks within 10s)',
        '  tcp flags: syn,!ack',
        '  sent to:   any local address of the capture interfaces',
        '  opens:     22/tcp for 30s via nftables',
      ].join('\n'),
    );
    expect(run.stdout).toContain('door https-admin\n  sequence:  2222:tcp,3333:udp,4444:tcp  (3 knocks within 25s)');
  });

  it('accepts examples/knockd.conf and shows the commands each door runs, and when', async () => {
    const run = await check('--knockd-conf', join(EXAMPLES, 'knockd.conf'));
    expect(run).toMatchObject({ exitCode: 0, stderr: '' });
    expect(run.stdout).toContain('knockd.conf: valid knockd.conf, 2 doors');
    expect(run.stdout).toContain('log: auto format, level info, to /var/log/knockd.log, and to syslog');
    expect(run.stdout).not.toContain('nftables:');
    expect(run.stdout).toContain(
      [
        'door openSSH',
        '  sequence:  7113:tcp,31337:udp,4242:tcp  (3 knocks within 10s)',
        '  tcp flags: syn,!ack',
        '  sent to:   any local address of the capture interfaces',
        '  runs on IPv4:            /usr/sbin/nft add element inet filter knock4 { %IP% . 22 timeout 30s }',
        '  then:                    no stop command',
        '  runs on IPv6:            /usr/sbin/nft add element inet filter knock6 { %IP% . 22 timeout 30s }',
        '  then:                    no stop command',
      ].join('\n'),
    );
    expect(run.stdout).toMatch(/door openHTTPS\n {2}sequence: {2}5000:tcp,6000:udp,7000:tcp {2}\(3 knocks within 25s\)\n {2}tcp flags: syn\n/);
    expect(run.stdout).toContain('then 15s after it ends:  /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 443 -j ACCEPT');
  });

  it('says that an IPv6 knock with start_command_6 empty runs nothing, its IPv4 stop neither', async () => {
    const file = write('fallback.conf', '[d]\nsequence = 1\nstart_command = up %IP%\nstart_command_6 =\nstop_command = down %IP%\n');
    const run = await check('--knockd-conf', file);
    expect(run.stdout).toContain('  runs on IPv6:            nothing\n  then:                    nothing (no start command, so no stop either)\n');
  });

  it('validates the built-in default when given no file, and warns that it is public', async () => {
    const run = await check();
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`${DEFAULT_CONFIG_NAME}: valid knockgate config, 1 door`);
    expect(run.stdout).toContain('note: this is the built-in default');
    expect(run.stdout).toContain('opens:     22/tcp for 30s via nftables');
  });

  it('prints every problem of a bad file to stderr and exits 1', async () => {
    const file = write('bad.toml', '[door.ssh]\nsequence = "7000,8000"\nopen = ["22/tcp"]\nopen_for = "90x"\ntcp_flags = "syn, ack"\n');
    const run = await check('--config', file);
    expect(run.exitCode).toBe(EXIT_INVALID_CONFIG);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${file}:4: door\\.ssh\\.open_for: "90x" is not a duration`)),
      expect.stringMatching(new RegExp(`^${file}:5: door\\.ssh\\.tcp_flags: unrecognized flag " ack"`)),
    ]);
  });

  it('reports a bad knockd.conf the same way', async () => {
    const file = write('bad.conf', '[options]\n  UseSyslog\n[ssh]\n  one_time_sequences = /etc/knockd/otp\n  sequence = 7000\n');
    const run = await check('--knockd-conf', file);
    expect(run.exitCode).toBe(EXIT_INVALID_CONFIG);
    expect(run.stderr).toBe(`${file}:5: ssh.sequence: is given with one_time_sequences (line 4), which supplies the sequences; keep one of them\n`);
  });
});

describe('a config given as the wrong kind', () => {
  it('points at --config when a knockgate TOML file is read as knockd.conf', async () => {
    const file = join(EXAMPLES, 'knockgate.toml');
    expect((await loadError({ knockdConf: file })).message).toBe(
      `${file}:7: [daemon] looks like knockgate TOML, not knockd.conf; check it with --config instead`,
    );
  });

  it('points at --knockd-conf when a knockd.conf is read as TOML', async () => {
    const file = join(EXAMPLES, 'knockd.conf');
    const lines = (await loadError({ config: file })).message.split('\n');
    expect(lines[0]).toBe(`${file}: has an [options] section: it looks like a knockd.conf, not knockgate TOML; check it with --knockd-conf instead`);
    expect(lines[1]).toMatch(new RegExp(`^${file}:7: not valid TOML`));
  });
});
