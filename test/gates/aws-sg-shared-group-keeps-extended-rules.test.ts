import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { CreateSecurityGroupCommand, DescribeSecurityGroupRulesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantId, type Grant } from '../../src/core/grant.js';
import { AwsSgGate } from '../../src/gates/aws-sg.js';
import { EXPIRES_TAG_KEY, fateOfHeldRule, type KnockgateRule } from '../../src/gates/aws-sg-rules.js';
import { waitFor } from '../../src/lab/wait.js';
import { FakeEc2 } from '../support/fake-ec2.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const SRC = '203.0.113.7';

function grant(expiresAt: number, door = 'ssh'): Grant {
  return { id: grantId(door, SRC), door, src: SRC, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: T0, expiresAt };
}

/** The expiry tags of the group's rules for port 22, as EC2 has them. */
async function expiryTags(ec2: EC2Client, groupId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress && r.FromPort === 22).map((r) => r.Tags?.find((t) => t.Key === EXPIRES_TAG_KEY)?.Value ?? 'untagged');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Backend {
  name: string;
  start(): Promise<{ ec2: EC2Client; groupId: string }>;
  stop(): Promise<void>;
}

const credentials = { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' };

function fakeBackend(): Backend {
  const fake = new FakeEc2();
  return {
    name: "knockgate's fake EC2",
    start: async () => ({ ec2: new EC2Client({ endpoint: await fake.start(), region: 'us-east-1', credentials }), groupId: 'sg-0123456789abcdef0' }),
    stop: () => fake.stop(),
  };
}

function motoBackend(): Backend {
  let child: ChildProcess | undefined;
  return {
    name: "moto's server",
    start: async () => {
      const port = await freePort();
      child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      const ec2 = new EC2Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials });
      const created = await waitFor(
        () => ec2.send(new CreateSecurityGroupCommand({ GroupName: `kg-shared-${port}`, Description: 'knockgate shared group test' })).catch(() => undefined),
        { timeoutMs: 20_000, what: 'moto_server answering' },
      );
      return { ec2, groupId: created.GroupId! };
    },
    stop: async () => {
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

describe('what a held rule becomes at its expiry or a stop, from its tag as EC2 has it now', () => {
  const held: KnockgateRule = { ruleId: 'sgr-1', groupId: 'sg-1', door: 'ssh', expiresAt: T0 + 2_000, permission: { proto: 'tcp', port: 22, cidr: `${SRC}/32`, family: 4 } };
  it('keeps a rule another process extended, revokes its own, and fails closed on an unreadable tag', () => {
    expect(fateOfHeldRule(held, undefined, T0 + 3_000, 'expired')).toEqual({ kind: 'gone' });
    expect(fateOfHeldRule(held, held, T0 + 3_000, 'expired')).toEqual({ kind: 'revoke' });
    const extended = { ...held, expiresAt: T0 + 120_000 };
    expect(fateOfHeldRule(held, extended, T0 + 3_000, 'expired')).toEqual({ kind: 'keep', rule: extended });
    expect(fateOfHeldRule(held, extended, T0 + 1_000, 'stop')).toEqual({ kind: 'keep', rule: extended });
    expect(fateOfHeldRule(held, held, T0 + 1_000, 'stop')).toEqual({ kind: 'revoke' });
    const { expiresAt: _gone, ...untagged } = held;
    expect(fateOfHeldRule(held, untagged, T0 + 1_000, 'stop')).toEqual({ kind: 'revoke' });
  });
});

for (const backend of [fakeBackend(), motoBackend()]) {
  describe(`two aws-sg gates on one Security Group never revoke each other's extended rule (${backend.name})`, () => {
    let ec2: EC2Client;
    let groupId: string;
    let t = T0;
    const gate = () => new AwsSgGate({ ec2, groups: [groupId], now: () => t, consistencyDelaysMs: [1, 1, 1, 1] });

    beforeAll(async () => {
      ({ ec2, groupId } = await backend.start());
    }, 30_000);
    afterAll(async () => {
      await backend.stop();
    });

    it('A grants 2 s, B extends to 120 s: A\'s expiry, A\'s sweep and A\'s clean stop keep the rule; B\'s expiry revokes it', async () => {
      t = T0;
      const a = gate();
      const b = gate();
      await a.grant(grant(T0 + 2_000));
      await b.grant(grant(T0 + 120_000));
      expect(await expiryTags(ec2, groupId)).toEqual(['2030-01-01T00:02:00.000Z']);

      t = T0 + 3_000;
      expect(await a.closeExpired()).toBe(0);
      expect((await a.sweep(t))[0]).toMatchObject({ revoked: 0, kept: 1 });
      await a.uninstall();
      expect(await expiryTags(ec2, groupId)).toEqual(['2030-01-01T00:02:00.000Z']);

      t = T0 + 121_000;
      expect(await b.closeExpired()).toBe(1);
      expect(await expiryTags(ec2, groupId)).toEqual([]);
      await b.uninstall();
    }, 30_000);

    it('a rule only this process extended is still revoked on its clean stop', async () => {
      t = T0;
      const a = gate();
      await a.grant(grant(T0 + 2_000));
      await a.grant(grant(T0 + 60_000));
      await a.uninstall();
      expect(await expiryTags(ec2, groupId)).toEqual([]);
    }, 30_000);
  });
}
