import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConfig, EXIT_INVALID_CONFIG } from '../src/cli/commands/check.js';
import { MAX_SECURITY_GROUPS } from '../src/config/aws-config.js';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import { protectedPorts } from '../src/daemon/door-ports.js';
import { buildCommandCli, type CommandCli } from './support/command-cli.js';

const DOORS = `
[door.ssh]
sequence = ["7000:tcp", "8000:udp"]
open = ["22/tcp"]
gate = "aws-sg"

[door.web]
sequence = ["7100:tcp"]
open = ["8443/tcp"]
`;

function problems(text: string): Array<{ line?: number; field?: string; message: string }> {
  try {
    parseKnockgateToml(text, 'k.toml');
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('config was accepted');
}

describe('[aws] and gate = "aws-sg" in knockgate TOML', () => {
  it('resolves groups, region and on_stop; the aws-sg door is not closed on the host', () => {
    const config = parseKnockgateToml(`[aws]\nregion = "eu-west-1"\nsecurity_groups = ["sg-0123456789abcdef0", "sg-12345678"]\non_stop = "keep"\n${DOORS}`, 'k.toml');
    expect(config.aws).toEqual({ region: 'eu-west-1', securityGroups: ['sg-0123456789abcdef0', 'sg-12345678'], onStop: 'keep' });
    expect(config.doors.map((d) => (d.action.kind === 'gate' ? d.action.gate : d.action.kind))).toEqual(['aws-sg', 'nftables']);
    expect(protectedPorts(config.doors)).toEqual([{ proto: 'tcp', port: 8443 }]);
  });

  it('leaves the region to the AWS environment when not given, and closes on stop by default', () => {
    expect(parseKnockgateToml(`[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\n${DOORS}`, 'k.toml').aws).toEqual({ securityGroups: ['sg-0123456789abcdef0'], onStop: 'close' });
  });

  it('names file line and field of a bad group id, a bad region, an unknown key, too many groups', () => {
    expect(problems(`[aws]\nsecurity_groups = ["bastion-sg"]\n${DOORS}`)).toEqual([
      { line: 2, field: 'aws.security_groups', message: expect.stringContaining('item 1: expected a security group id like "sg-0123456789abcdef0" (the id, not the name), got "bastion-sg"') },
    ]);
    expect(problems(`[aws]\nregion = "Ireland"\nsecurity_groups = ["sg-0123456789abcdef0"]\n${DOORS}`)).toEqual([
      { line: 2, field: 'aws.region', message: 'expected an AWS region code like "eu-west-1", got "Ireland"' },
    ]);
    expect(problems(`[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\nprofile = "prod"\n${DOORS}`)).toEqual([
      { line: 3, field: 'aws.profile', message: 'unknown setting; known here: region, security_groups, on_stop' },
    ]);
    const many = Array.from({ length: MAX_SECURITY_GROUPS + 1 }, (_, i) => `"sg-${String(i).padStart(8, '0')}"`).join(', ');
    expect(problems(`[aws]\nsecurity_groups = [${many}]\n${DOORS}`)[0]?.message).toBe(`at most ${MAX_SECURITY_GROUPS} security groups, got ${MAX_SECURITY_GROUPS + 1}`);
    expect(problems(`[aws]\nsecurity_groups = []\n${DOORS}`)[0]?.message).toBe('needs at least 1 item');
  });

  it('refuses an aws-sg door without [aws], at the door\'s gate line', () => {
    expect(problems(DOORS)).toEqual([{ line: 5, field: 'door.ssh.gate', message: 'gate "aws-sg" needs an [aws] table with security_groups = ["sg-…"]' }]);
  });

  it('knockgate check shows the groups and which door opens through them', () => {
    const text = describeConfig(parseKnockgateToml(`[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\n${DOORS}`, 'k.toml'));
    expect(text).toContain('  aws: security groups sg-0123456789abcdef0, region from AWS_REGION or the profile, on stop close\n');
    expect(text).toContain('  opens:     22/tcp for 30s via aws-sg\n');
  });
});

describe('knockgate check on a file with [aws]', () => {
  let cli: CommandCli;
  const dir = mkdtempSync(join(tmpdir(), 'kgt-check-aws-'));
  beforeAll(async () => {
    cli = await buildCommandCli('check');
  }, 60_000);
  afterAll(async () => {
    await cli?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names file:line: field for a bad region, group id, on_stop and an aws-sg door\'s port, and exits non-zero', async () => {
    const file = join(dir, 'bad.toml');
    writeFileSync(
      file,
      `[aws]
region = "Ireland"
security_groups = ["sg-0123456789abcdef0", "bastion-sg"]
on_stop = "drop"

[door.ssh]
sequence = ["7000:tcp", "8000:udp"]
open = ["70000/tcp"]
gate = "aws-sg"
`,
    );
    const run = await cli.run(undefined, ['--config', file]);
    expect(run.code).toBe(EXIT_INVALID_CONFIG);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').slice(0, 4)).toEqual([
      `${file}:2: aws.region: expected an AWS region code like "eu-west-1", got "Ireland"`,
      `${file}:3: aws.security_groups: item 2: expected a security group id like "sg-0123456789abcdef0" (the id, not the name), got "bastion-sg"`,
      `${file}:4: aws.on_stop: expected one of close | keep, got "drop"`,
      `${file}:8: door.ssh.open: item 1: "70000" is not a port (1..65535)`,
    ]);
  });

  it('prints the groups, the region (or where it will come from) and the doors that open through them', async () => {
    const file = join(dir, 'good.toml');
    writeFileSync(file, `[aws]\nregion = "eu-west-1"\nsecurity_groups = ["sg-0123456789abcdef0", "sg-12345678"]\n${DOORS}`);
    const run = await cli.run(undefined, ['--config', file]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toContain('  aws: security groups sg-0123456789abcdef0, sg-12345678, region eu-west-1, on stop close\n');
    // The web door still opens through nftables; with only aws-sg doors there is no table to show.
    expect(run.stdout).toContain('  nftables: table inet knockgate');
    const awsOnly = join(dir, 'aws-only.toml');
    writeFileSync(awsOnly, `[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\n${DOORS.slice(0, DOORS.indexOf('[door.web]'))}`);
    const awsRun = await cli.run(undefined, ['--config', awsOnly]);
    expect(awsRun.stdout).toContain('  aws: security groups sg-0123456789abcdef0, region from AWS_REGION or the profile, on stop close\n');
    expect(awsRun.stdout).not.toContain('nftables:');
    expect(run.stdout).toMatch(/door ssh\n(?:.*\n)*? {2}opens: {5}22\/tcp for 30s via aws-sg\n/);
  });
});
