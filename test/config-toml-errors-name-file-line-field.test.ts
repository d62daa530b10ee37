import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, MAX_REPORTED_PROBLEMS } from '../src/config/config-error.js';
import { MAX_LIST_ITEMS } from '../src/config/config-values.js';
import { MAX_CONFIG_BYTES, MAX_DOORS, readKnockgateToml } from '../src/config/knockgate-toml.js';

const dir = mkdtempSync(join(tmpdir(), 'kgt-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function write(text: string): string {
  const file = join(dir, `c${n++}.toml`);
  writeFileSync(file, text);
  return file;
}

/** Loads a file that must fail and returns its ConfigError. */
async function reject(file: string): Promise<ConfigError> {
  const err = await readKnockgateToml(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

const DOOR = '[door.ssh]\nsequence = "7000,8000"\nopen = ["22/tcp"]\n';

describe('a bad knockgate config', () => {
  // Each case: text, then the line, field and a fragment of the message the operator must see.
  const cases: [string, string, number, string, RegExp][] = [
    ['unknown daemon key', `[daemon]\nintefaces = ["eth0"]\n${DOOR}`, 2, 'daemon.intefaces', /unknown setting \(did you mean interfaces\?\); known here: interfaces,/],
    ['bad enum', `${DOOR}[daemon]\nlog_format = "xml"\n`, 5, 'daemon.log_format', /one of auto \| json \| human, got "xml"/],
    ['bound of tracked sources', `[daemon]\nmax_tracked_sources = 8\n${DOOR}`, 2, 'daemon.max_tracked_sources', /16 \.\. 1048576, got 8/],
    ['relative path', `[daemon]\nstate_dir = "var/lib"\n${DOOR}`, 2, 'daemon.state_dir', /relative/],
    ['host chain syntax', `[nftables]\nhost_chain = "filter input"\n${DOOR}`, 2, 'nftables.host_chain', /<family> <table> <chain>/],
    ['host chain in own table', `[nftables]\nhost_chain = "inet knockgate input"\n${DOOR}`, 2, 'nftables.host_chain', /outside knockgate's own table/],
    ['mark out of range', `[nftables]\nmark = 0\n${DOOR}`, 2, 'nftables.mark', /0x1 \.\. 0xffffffff/],
    ['knock written with a slash', '[door.ssh]\nsequence = ["7000/tcp"]\nopen = ["22"]\n', 2, 'door.ssh.sequence', /"7000:tcp"/],
    ['unknown protocol', '[door.ssh]\nsequence = "7000:sctp"\nopen = ["22"]\n', 2, 'door.ssh.sequence', /unknown protocol "sctp"/],
    ['port out of range', '[door.ssh]\nsequence = "70000"\nopen = ["22"]\n', 2, 'door.ssh.sequence', /not a port \(1\.\.65535\)/],
    ['33 knocks', `[door.ssh]\nsequence = "${Array.from({ length: 33 }, (_, i) => 7000 + i).join(',')}"\nopen = ["22"]\n`, 2, 'door.ssh.sequence', /at most 32 knocks, got 33/],
    ['spaces in tcp flags', '[door.ssh]\nsequence = "7000"\ntcp_flags = "syn, ack"\nopen = ["22"]\n', 3, 'door.ssh.tcp_flags', /no spaces/],
    ['contradicting flags', '[door.ssh]\nsequence = "7000"\ntcp_flags = "syn,!syn"\nopen = ["22"]\n', 3, 'door.ssh.tcp_flags', /both required and forbidden/],
    ['duration without unit', '[door.ssh]\nsequence = "7000"\nseq_timeout = "10"\nopen = ["22"]\n', 3, 'door.ssh.seq_timeout', /write "10s"/],
    ['open_for too long', '[door.ssh]\nsequence = "7000"\nopen = ["22"]\nopen_for = "25h"\n', 4, 'door.ssh.open_for', /between 1s and 24h, got 25h/],
    ['no opened port', '[door.ssh]\nsequence = "7000"\nopen = []\n', 3, 'door.ssh.open', /at least 1 item/],
    ['opened port written with a colon', '[door.ssh]\nsequence = "7000"\nopen = ["22:tcp"]\n', 3, 'door.ssh.open', /"22\/tcp"/],
    ['same port twice', '[door.ssh]\nsequence = "7000"\nopen = ["22", "22/tcp"]\n', 3, 'door.ssh.open', /22\/tcp is listed twice/],
    ['bad target', '[door.ssh]\nsequence = "7000"\ntarget = ["10.0.0.256"]\nopen = ["22"]\n', 3, 'door.ssh.target', /not an IPv4 or IPv6 address/],
    ['missing sequence', '[door.ssh]\nopen = ["22"]\n', 1, 'door.ssh.sequence', /missing/],
    ['knock on an opened port', '[door.ssh]\nsequence = "7000,22"\nopen = ["22"]\n', 2, 'door.ssh.sequence', /knock port 22\/tcp is also a port a door opens/],
    ['bad door name', '[door."ssh door"]\nsequence = "7000"\nopen = ["22"]\n', 1, 'door."ssh door"', /invalid door name/],
    ['doors instead of door', `${DOOR}[doors.x]\nsequence = "1"\n`, 4, 'doors', /\[door\.NAME\] tables/],
    ['door that is not a table', `[door]\nssh = 5\n`, 2, 'door.ssh', /expected a table \[door\.ssh\], got 5/],
    ['wrong type', `[daemon]\nuse_syslog = "yes"\n${DOOR}`, 2, 'daemon.use_syslog', /true or false, got "yes"/],
  ];

  it.each(cases)('names file, line and field: %s', async (_what, text, line, field, message) => {
    const file = write(text);
    const err = await reject(file);
    expect(err.file).toBe(file);
    expect(err.problems[0]).toMatchObject({ line, field });
    expect(err.problems[0]?.message).toMatch(message);
    // The one-line form an operator reads in a terminal.
    expect(err.message.split('\n')[0]).toBe(`${file}:${line}: ${field}: ${err.problems[0]?.message}`);
  });

  it('reports a TOML syntax error at its line and column', async () => {
    const file = write(`${DOOR}\n[daemon]\nlog_level = \n`);
    const err = await reject(file);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.line).toBe(6);
    expect(err.message).toMatch(new RegExp(`^${file}:6: not valid TOML: .*\\(column \\d+\\)$`));
  });

  it('finds lines past multi-line strings and in dotted keys', async () => {
    const text = `# comment = "not a key"
[daemon]
log_file = """
state_dir = "/not/a/key"
"""
state_dir = "relative"

[door.ssh]
sequence = "7000"
open = ["22"]
door.other.open = "x"
`;
    const err = await reject(write(text));
    expect(err.problems.map((p) => [p.line, p.field])).toEqual([
      [3, 'daemon.log_file'],
      [6, 'daemon.state_dir'],
      [11, 'door.ssh.door'],
    ]);
  });

  it('lists every problem in file order, not only the first', async () => {
    const err = await reject(write('[door.b]\nsequence = "x"\nopen = ["22"]\n[daemon]\nlog_level = "loud"\nbogus = 1\n'));
    expect(err.problems.map((p) => p.line)).toEqual([2, 5, 6]);
    expect(err.message.split('\n')).toHaveLength(3);
  });

  it(`lists at most ${MAX_REPORTED_PROBLEMS} problems and counts the rest`, async () => {
    const doors = Array.from({ length: MAX_REPORTED_PROBLEMS + 5 }, (_, i) => `[door.d${i}]\nsequence = "0"\nopen = ["22"]\n`).join('');
    const err = await reject(write(doors));
    expect(err.problems).toHaveLength(MAX_REPORTED_PROBLEMS);
    expect(err.omitted).toBe(5);
    expect(err.message.split('\n')).toHaveLength(MAX_REPORTED_PROBLEMS + 1);
    expect(err.message).toMatch(/… and 5 more problems$/);
  });

  it(`refuses more than ${MAX_DOORS} doors and more than ${MAX_LIST_ITEMS} items in a list`, async () => {
    const tooMany = Array.from({ length: MAX_DOORS + 1 }, (_, i) => `[door.d${i}]\nsequence = "${1000 + i}"\nopen = ["22"]\n`).join('');
    expect((await reject(write(tooMany))).message).toMatch(new RegExp(`door: at most ${MAX_DOORS} doors, got ${MAX_DOORS + 1}`));
    const justEnough = Array.from({ length: MAX_DOORS }, (_, i) => `[door.d${i}]\nsequence = "${1000 + i}"\nopen = ["22"]\n`).join('');
    expect((await readKnockgateToml(write(justEnough))).doors).toHaveLength(MAX_DOORS);

    const ports = (count: number) => Array.from({ length: count }, (_, i) => `"${2000 + i}"`).join(', ');
    const err = await reject(write(`[door.a]\nsequence = "7000"\nopen = [${ports(MAX_LIST_ITEMS + 1)}]\n`));
    expect(err.problems[0]?.message).toBe(`at most ${MAX_LIST_ITEMS} items, got ${MAX_LIST_ITEMS + 1}`);
    expect((await readKnockgateToml(write(`[door.a]\nsequence = "7000"\nopen = [${ports(MAX_LIST_ITEMS)}]\n`))).doors).toHaveLength(1);
  });

  it('says so when there is no door at all', async () => {
    const file = write('[daemon]\nlog_level = "info"\n');
    const err = await reject(file);
    expect(err.message).toBe(`${file}: no door is configured; add a [door.NAME] or [spa_door.NAME] table, or a [guard] section to only watch ports`);
  });

  it(`refuses a file over ${MAX_CONFIG_BYTES} bytes, a directory and a missing file before parsing`, async () => {
    const big = write(`${DOOR}#${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect((await reject(big)).message).toMatch(/bytes; a config file is at most 1048576 bytes$/);
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    expect((await reject(sub)).message).toBe(`${sub}: is not a regular file`);
    const missing = join(dir, 'missing.toml');
    expect((await reject(missing)).message).toMatch(new RegExp(`^${missing}: cannot be read: ENOENT`));
  });
});
