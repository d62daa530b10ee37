import { describe, expect, it } from 'vitest';
import { describeConfig } from '../src/cli/commands/check.js';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';

const door = (extra: string) => `[daemon]
interfaces = ["eth0"]

[door.ssh]
sequence = ["7000", "8000:udp", "9000"]
open = ["22/tcp"]
${extra}
`;

function problemsOf(text: string): Array<{ line?: number; field?: string; message: string }> {
  try {
    parseKnockgateToml(text, 'k.toml');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('kernel-only doors in the config', () => {
  it('kernel = true marks the door; the default leaves the daemon tracking it', () => {
    expect(parseKnockgateToml(door('kernel = true'), 'k.toml').doors[0]!.knock.kernel).toBe(true);
    expect(parseKnockgateToml(door(''), 'k.toml').doors[0]!.knock.kernel).toBeUndefined();
  });

  it('refuses what the kernel ruleset cannot reproduce, naming file, line and field', () => {
    expect(problemsOf(door('kernel = true\ngate = "iptables"'))).toEqual([
      expect.objectContaining({ line: 7, field: 'door.ssh.kernel', message: expect.stringMatching(/gate = "iptables"/) }),
    ]);
    const timed = `[door.ssh]\nsecret = "${Buffer.alloc(32, 7).toString('base64')}"\nopen = ["22/tcp"]\nkernel = true\n`;
    expect(problemsOf(timed)).toEqual([expect.objectContaining({ line: 4, field: 'door.ssh.kernel', message: expect.stringMatching(/fixed `sequence`/) })]);
  });

  it('check prints the generated ruleset and how its semantics compare with the daemon', () => {
    const text = describeConfig(parseKnockgateToml(door('kernel = true'), 'k.toml'));
    expect(text).toMatch(/tracked: +by the kernel/);
    expect(text).toMatch(/timeout: +from the first knock/);
    expect(text).toContain('    add rule inet knockgate kd_0_ssh ip saddr @kd_0_ssh_begun4 ip saddr @kd_0_ssh_stage2_4 tcp dport 9000 update @grants4 { ip saddr . 6 . 22 timeout 30000ms }');
    expect(text).toContain('    add rule inet knockgate kd_knocks jump kd_0_ssh');
    expect(describeConfig(parseKnockgateToml(door(''), 'k.toml'))).not.toContain('kd_');
  });
});
