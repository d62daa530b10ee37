import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sweepHandler } from '../src/aws/lambda-handler.js';
import { EXIT_SWEEP_FAILED, registerAws } from '../src/cli/commands/aws.js';
import { grantId, type Grant } from '../src/core/grant.js';
import { AwsSgGate } from '../src/gates/aws-sg.js';
import { DOOR_TAG_KEY, EXPIRES_TAG_KEY, OWNER_TAG_KEY } from '../src/gates/aws-sg-rules.js';
import { FakeEc2 } from './support/fake-ec2.js';

const SG = 'sg-0123456789abcdef0';
const SG2 = 'sg-0fedcba9876543210';
const T0 = Date.now();

let fake: FakeEc2;
let endpoint: string;
let work: string;
const ENV_KEYS = ['AWS_ENDPOINT_URL_EC2', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED', 'KNOCKGATE_SECURITY_GROUPS'] as const;
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

function grant(src: string, expiresAt: number, door = 'ssh'): Grant {
  return { id: grantId(door, src), door, src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: T0, expiresAt };
}

function gate(now: () => number, groups = [SG]): AwsSgGate {
  const ec2 = new EC2Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' } });
  return new AwsSgGate({ ec2, groups, now });
}

/** What a crashed daemon or a finished Lambda leaves: rules in EC2 and no process that will close them. */
async function leaveRulesBehind(): Promise<void> {
  const dead = gate(() => T0, [SG, SG2]);
  await dead.grant(grant('203.0.113.1', T0 + 30_000));
  await dead.grant(grant('203.0.113.2', T0 + 600_000, 'admin'));
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const program = new Command('knockgate').exitOverride().configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  registerAws(program);
  try {
    await program.parseAsync(['aws', 'sweep', ...args], { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { code: err.exitCode, stdout, stderr };
  }
}

beforeAll(async () => {
  fake = new FakeEc2();
  endpoint = await fake.start();
  work = mkdtempSync(join(tmpdir(), 'kgt-aws-sweep-'));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_EC2: endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
});

afterAll(async () => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(work, { recursive: true, force: true });
  await fake.stop();
});

beforeEach(async () => {
  fake.rules.clear();
  fake.calls.length = 0;
  await leaveRulesBehind();
});

describe('aws-sg: a dead process cannot leave a port open', () => {
  it('a restarted gate revokes expired knockgate rules, adopts live ones and closes them when due; others\' rules stay', async () => {
    const foreign = fake.addForeignRule(SG, '198.51.100.7/32', 22);
    const garbled = fake.addForeignRule(SG, '198.51.100.8/32', 22);
    garbled.tags.set(OWNER_TAG_KEY, 'knockgate').set(DOOR_TAG_KEY, 'ssh').set(EXPIRES_TAG_KEY, 'never');
    let now = T0 + 60_000;
    const restarted = gate(() => now);

    const adopted = await restarted.reconcile([], now);
    expect(adopted).toEqual([{ id: 'admin|203.0.113.2', door: 'admin', src: '203.0.113.2', family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: now, expiresAt: T0 + 600_000 }]);
    expect(fake.ingress(SG).map((r) => r.cidrIpv4).sort()).toEqual(['198.51.100.7/32', '203.0.113.2/32']);
    expect(fake.ingress(SG)).toContain(foreign);

    now = T0 + 599_999;
    expect(await restarted.closeExpired()).toBe(0);
    now = T0 + 600_000;
    expect(await restarted.closeExpired()).toBe(1);
    expect(fake.ingress(SG)).toEqual([foreign]);
    // The other group was not this gate's to reconcile.
    expect(fake.ingress(SG2)).toHaveLength(2);
  });

  it('`knockgate aws sweep --group` revokes the expired rule in each named group, with endpoint and region from the environment', async () => {
    // The sweep runs on the real clock: make the first grant's rule expire now.
    for (const r of fake.rules.values()) if (r.cidrIpv4 === '203.0.113.1/32') r.tags.set(EXPIRES_TAG_KEY, new Date(Date.now() - 1_000).toISOString());
    const out = await runCli(['--group', SG, '--group', SG2]);
    expect(out).toEqual({ code: 0, stderr: '', stdout: `${SG}: revoked 1 expired knockgate rule, 1 live kept\n${SG2}: revoked 1 expired knockgate rule, 1 live kept\n` });
    expect([...fake.rules.values()].map((r) => `${r.groupId} ${r.cidrIpv4}`).sort()).toEqual([`${SG} 203.0.113.2/32`, `${SG2} 203.0.113.2/32`]);
  });

  it('`knockgate aws sweep --config` takes the groups from [aws]; bad input fails with exit 1 and a reason', async () => {
    const config = join(work, 'knockgate.toml');
    writeFileSync(config, `[aws]\nsecurity_groups = ["${SG2}"]\n\n[door.ssh]\nsequence = ["7000:tcp"]\nopen = ["22/tcp"]\ngate = "aws-sg"\n`);
    for (const r of fake.rules.values()) r.tags.set(EXPIRES_TAG_KEY, new Date(Date.now() - 1_000).toISOString());
    expect((await runCli(['--config', config])).stdout).toBe(`${SG2}: revoked 2 expired knockgate rules, 0 live kept\n`);
    expect(fake.ingress(SG2)).toEqual([]);
    expect(fake.ingress(SG)).toHaveLength(2);

    const noGroup = await runCli([]);
    expect([noGroup.code, noGroup.stderr]).toEqual([EXIT_SWEEP_FAILED, expect.stringContaining('no security group')]);
    const badGroup = await runCli(['--group', 'my-bastion-sg']);
    expect([badGroup.code, badGroup.stderr]).toEqual([EXIT_SWEEP_FAILED, expect.stringContaining('"my-bastion-sg" is not a security group id')]);
    fake.denyWith = { status: 403, code: 'UnauthorizedOperation' };
    const refused = await runCli(['--group', SG]);
    fake.denyWith = undefined;
    expect([refused.code, refused.stderr]).toEqual([EXIT_SWEEP_FAILED, expect.stringContaining('DescribeSecurityGroupRules failed (UnauthorizedOperation)')]);
  });

  it('the scheduled sweeper Lambda sweeps the groups in KNOCKGATE_SECURITY_GROUPS', async () => {
    for (const r of fake.rules.values()) if (r.cidrIpv4 === '203.0.113.1/32') r.tags.set(EXPIRES_TAG_KEY, new Date(Date.now() - 1_000).toISOString());
    process.env.KNOCKGATE_SECURITY_GROUPS = `${SG}, ${SG2}`;
    const result = await sweepHandler();
    expect(result.groups).toEqual([
      { groupId: SG, revoked: 1, kept: 1 },
      { groupId: SG2, revoked: 1, kept: 1 },
    ]);
    process.env.KNOCKGATE_SECURITY_GROUPS = 'sg-nope';
    await expect(sweepHandler()).rejects.toThrow(/"sg-nope" is not a security group id/);
  });
});
