import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';

const FILE = '/etc/knockgate/test.toml';

function door(body: string, extra = ''): string {
  return `${extra}\n[door.d]\nsequence = ["7000:tcp"]\nopen = ["22/tcp"]\n${body}\n`;
}

function problem(text: string): string {
  try {
    parseKnockgateToml(text, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('knockgate TOML: gate = "iptables" and gate = "command"', () => {
  it('resolves an iptables door and the [iptables] settings, with defaults', () => {
    const withSettings = parseKnockgateToml(door('gate = "iptables"', '[iptables]\nchain = "KG_1"\niptables = "iptables-legacy"\nip6tables = "/usr/sbin/ip6tables-legacy"\non_stop = "remove"'), FILE);
    expect(withSettings.doors[0]!.action).toEqual({ kind: 'gate', gate: 'iptables', open: [{ proto: 'tcp', port: 22 }], openForMs: 30_000 });
    expect(withSettings.iptables).toEqual({ chain: 'KG_1', iptables: 'iptables-legacy', ip6tables: '/usr/sbin/ip6tables-legacy', onStop: 'remove' });
    expect(parseKnockgateToml(door('gate = "iptables"'), FILE).iptables).toEqual({ chain: 'KNOCKGATE', iptables: 'iptables', ip6tables: 'ip6tables', onStop: 'close' });
  });

  it('resolves a command door: argv lists, or strings with shell = true, and the time limit', () => {
    const argv = parseKnockgateToml(door('gate = "command"\nstart = ["/bin/allow", "{src}", "{ports}"]\nstop = ["/bin/deny", "{src}"]\ncommand_timeout = "2s"'), FILE);
    expect(argv.doors[0]!.action).toMatchObject({
      gate: 'command',
      commands: { start: { argv: ['/bin/allow', '{src}', '{ports}'] }, stop: { argv: ['/bin/deny', '{src}'] }, timeLimitMs: 2_000 },
    });
    const shell = parseKnockgateToml(door('gate = "command"\nshell = true\nstop = "iptables -D INPUT -s {src} -j ACCEPT"'), FILE);
    expect(shell.doors[0]!.action).toMatchObject({ commands: { stop: { shell: 'iptables -D INPUT -s {src} -j ACCEPT' }, timeLimitMs: 30_000 } });
  });

  it.each([
    ['a command door without commands', door('gate = "command"'), /:5: door\.d\.gate: a command door needs start/],
    ['commands on an nftables door', door('start = ["/bin/allow"]'), /:5: door\.d\.start: only a door with gate = "command" runs commands/],
    ['a string without shell = true', door('gate = "command"\nstart = "allow {src}"'), /:6: door\.d\.start: a string command runs through \/bin\/sh only with shell = true/],
    ['an argv list with shell = true', door('gate = "command"\nshell = true\nstop = ["deny"]'), /:7: door\.d\.stop: shell = true takes a string command/],
    ['an unknown placeholder', door('gate = "command"\nstart = ["/bin/allow", "{source}"]'), /door\.d\.start: argument 2: unknown placeholder \{source\}; known: \{src\} \{door\} \{ports\} \{expires\} \{family\}/],
    ['an empty argv', door('gate = "command"\nstart = []'), /door\.d\.start: expected a list of 1\.\.64 strings/],
    ['a time limit out of range', door('gate = "command"\nstart = ["x"]\ncommand_timeout = "11m"'), /door\.d\.command_timeout/],
    ['an unknown gate', door('gate = "pf"'), /door\.d\.gate: expected one of nftables \| iptables \| command/],
    ['a chain name too long', door('gate = "iptables"', '[iptables]\nchain = "A_CHAIN_NAME_TOO_LONG_X"'), /:2: iptables\.chain: expected a chain name/],
    ['an unknown [iptables] key', door('gate = "iptables"', '[iptables]\ntable = "filter"'), /iptables\.table: unknown setting; known here: chain, iptables, ip6tables, on_stop/],
  ])('refuses %s, naming line and field', (_what, text, message) => {
    expect(problem(text)).toMatch(message);
  });
});
