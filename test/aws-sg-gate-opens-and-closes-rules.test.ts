import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Grant } from '../src/core/grant.js';
import { grantId } from '../src/core/grant.js';
import { AwsErrorCode, AwsGateError, AwsSgGate, EC2_MAX_ATTEMPTS, MAX_CONCURRENT_EC2_CALLS } from '../src/gates/aws-sg.js';
import { DOOR_TAG_KEY, EXPIRES_TAG_KEY, OWNER_TAG_KEY } from '../src/gates/aws-sg-rules.js';
import { GateError } from '../src/gates/gate.js';
import { FakeEc2 } from './support/fake-ec2.js';

const SG = 'sg-0123456789abcdef0';
const SG2 = 'sg-0fedcba9876543210';
const T0 = Date.parse('2030-01-01T00:00:00Z');

let fake: FakeEc2;
let endpoint: string;

function client(maxAttempts = EC2_MAX_ATTEMPTS): EC2Client {
  return new EC2Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' }, maxAttempts });
}

function grant(src: string, ports: number[], expiresAt = T0 + 60_000, door = 'ssh'): Grant {
  return { id: grantId(door, src), door, src, family: src.includes(':') ? 6 : 4, ports: ports.map((port) => ({ proto: 'tcp', port })), grantedAt: T0, expiresAt };
}

function gate(groups = [SG], now = () => T0, ec2 = client()): AwsSgGate {
  return new AwsSgGate({ ec2, groups, now, consistencyDelaysMs: [1, 1, 1, 1] });
}

beforeAll(async () => {
  fake = new FakeEc2();
  endpoint = await fake.start();
});

afterAll(async () => {
  await fake.stop();
});

beforeEach(() => {
  fake.rules.clear();
  fake.calls.length = 0;
  fake.quotaPerGroup = 60;
  fake.throttleNext = 0;
  fake.hideNewRulesForDescribes = 0;
  fake.responseDelayMs = 0;
  fake.maxInFlight = 0;
});

describe('aws-sg gate turns a grant into tagged ingress rules and removes them by id', () => {
  it('opens each port for the source /32 with owner, door and expiry in tags and description, then revokes by rule id', async () => {
    const g = gate();
    await g.grant(grant('203.0.113.7', [22, 443]));
    const rules = fake.ingress(SG);
    expect(rules.map((r) => [r.cidrIpv4, r.proto, r.fromPort, r.toPort])).toEqual([
      ['203.0.113.7/32', 'tcp', 22, 22],
      ['203.0.113.7/32', 'tcp', 443, 443],
    ]);
    for (const r of rules) {
      expect(r.tags.get(OWNER_TAG_KEY)).toBe('knockgate');
      expect(r.tags.get(DOOR_TAG_KEY)).toBe('ssh');
      expect(r.tags.get(EXPIRES_TAG_KEY)).toBe('2030-01-01T00:01:00.000Z');
      expect(r.description).toBe('knockgate door ssh until 2030-01-01T00:01:00.000Z');
    }
    expect((await g.list()).map((e) => [e.src, e.port, e.expiresInMs])).toEqual([
      ['203.0.113.7', 22, 60_000],
      ['203.0.113.7', 443, 60_000],
    ]);

    await g.revoke(grant('203.0.113.7', [22, 443]));
    expect(fake.ingress(SG)).toEqual([]);
    const revoke = fake.callsOf('RevokeSecurityGroupIngress');
    expect(revoke).toHaveLength(1);
    expect(Object.values(revoke[0]!.params).filter((v) => v.startsWith('sgr-')).sort()).toEqual(rules.map((r) => r.id).sort());
  });

  it('opens an IPv6 source as /128', async () => {
    await gate().grant(grant('2001:db8::7', [22]));
    expect(fake.ingress(SG).map((r) => [r.cidrIpv6, r.cidrIpv4])).toEqual([['2001:db8::7/128', undefined]]);
  });

  it('opens in every configured group', async () => {
    await gate([SG, SG2]).grant(grant('203.0.113.7', [22]));
    expect(fake.ingress(SG)).toHaveLength(1);
    expect(fake.ingress(SG2)).toHaveLength(1);
  });

  it('extends a rule that already exists (duplicate) instead of failing, and keeps one rule', async () => {
    const g = gate();
    await g.grant(grant('203.0.113.7', [22], T0 + 30_000));
    await g.grant(grant('203.0.113.7', [22, 443], T0 + 90_000));
    const rules = fake.ingress(SG);
    expect(rules.map((r) => r.fromPort).sort()).toEqual([22, 443]);
    for (const r of rules) {
      expect(r.tags.get(EXPIRES_TAG_KEY)).toBe('2030-01-01T00:01:30.000Z');
      expect(r.description).toBe('knockgate door ssh until 2030-01-01T00:01:30.000Z');
    }
  });

  it('a fresh process extends rules an earlier one made (found by describing, not from memory)', async () => {
    await gate().grant(grant('203.0.113.7', [22], T0 + 30_000));
    await gate().grant(grant('203.0.113.7', [22], T0 + 120_000));
    expect(fake.ingress(SG).map((r) => r.tags.get(EXPIRES_TAG_KEY))).toEqual(['2030-01-01T00:02:00.000Z']);
  });

  it("leaves someone else's rule for the same source and port untouched, on grant and on revoke", async () => {
    const foreign = fake.addForeignRule(SG, '203.0.113.7/32', 22);
    const g = gate();
    await g.grant(grant('203.0.113.7', [22]));
    await g.revoke(grant('203.0.113.7', [22]));
    expect(fake.ingress(SG)).toEqual([foreign]);
    expect(foreign.tags.size).toBe(0);
    expect(foreign.description).toBe('office');
    expect(fake.callsOf('RevokeSecurityGroupIngress')).toHaveLength(0);
  });

  it('revoking a rule that is already gone is not an error', async () => {
    const g = gate();
    await g.grant(grant('203.0.113.7', [22, 443]));
    const [first] = fake.ingress(SG);
    fake.rules.delete(first!.id);
    await g.revoke(grant('203.0.113.7', [22, 443]));
    expect(fake.ingress(SG)).toEqual([]);
    await g.revoke(grant('203.0.113.7', [22, 443]));
  });

  it('finds a rule EC2 called a duplicate once it becomes visible (eventual consistency) and extends it', async () => {
    fake.hideNewRulesForDescribes = 2;
    await gate().grant(grant('203.0.113.7', [22], T0 + 30_000));
    await gate().grant(grant('203.0.113.7', [22], T0 + 90_000));
    expect(fake.ingress(SG)).toHaveLength(1);
    expect(fake.ingress(SG)[0]!.tags.get(EXPIRES_TAG_KEY)).toBe('2030-01-01T00:01:30.000Z');
    expect(fake.callsOf('DescribeSecurityGroupRules').length).toBeGreaterThanOrEqual(3);
  });
});

describe('aws-sg gate under throttling, quota and bursts', () => {
  it('rides out throttling with the SDK retries', async () => {
    fake.throttleNext = 2;
    await gate().grant(grant('203.0.113.7', [22]));
    expect(fake.ingress(SG)).toHaveLength(1);
    expect(fake.callsOf('AuthorizeSecurityGroupIngress')).toHaveLength(3);
  }, 20_000);

  it('gives up on endless throttling with a typed error naming the call and the AWS code', async () => {
    fake.throttleNext = 100;
    const err = await gate([SG], () => T0, client(2)).grant(grant('203.0.113.7', [22])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect(err).toMatchObject({ apiCall: 'AuthorizeSecurityGroupIngress', awsCode: 'RequestLimitExceeded', gate: 'aws-sg' });
    expect(fake.ingress(SG)).toEqual([]);
  }, 20_000);

  it('refuses a grant clearly at the rules-per-group quota and evicts nobody', async () => {
    fake.quotaPerGroup = 2;
    const a = fake.addForeignRule(SG, '198.51.100.1/32', 22);
    const b = fake.addForeignRule(SG, '198.51.100.2/32', 22);
    const err = await gate().grant(grant('203.0.113.7', [22])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsGateError);
    expect((err as AwsGateError).awsCode).toBe(AwsErrorCode.quota);
    expect((err as Error).message).toMatch(new RegExp(`${SG} is at its rules-per-group quota; 203.0.113.7 was not let in`));
    expect(fake.ingress(SG)).toEqual([a, b]);
    expect(fake.callsOf('RevokeSecurityGroupIngress')).toHaveLength(0);
  });

  it('rolls back the other groups when one group refuses, so a refused grant is not half open', async () => {
    fake.quotaPerGroup = 1;
    fake.addForeignRule(SG2, '198.51.100.1/32', 22);
    await expect(gate([SG, SG2]).grant(grant('203.0.113.7', [22]))).rejects.toMatchObject({ awsCode: AwsErrorCode.quota });
    expect(fake.ingress(SG)).toEqual([]);
    expect(fake.ingress(SG2)).toHaveLength(1);
  });

  it(`keeps at most ${MAX_CONCURRENT_EC2_CALLS} EC2 calls in flight during a burst of grants`, async () => {
    fake.responseDelayMs = 20;
    const g = gate();
    await Promise.all(Array.from({ length: 24 }, (_, i) => g.grant(grant(`203.0.113.${i + 1}`, [22]))));
    expect(fake.ingress(SG)).toHaveLength(24);
    expect(fake.maxInFlight).toBeGreaterThan(1);
    expect(fake.maxInFlight).toBeLessThanOrEqual(MAX_CONCURRENT_EC2_CALLS);
  });
});
