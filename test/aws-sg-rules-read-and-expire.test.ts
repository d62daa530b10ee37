import { describe, expect, it } from 'vitest';
import {
  DOOR_TAG_KEY,
  EXPIRES_TAG_KEY,
  MAX_DESCRIPTION_CHARS,
  OWNER_TAG_KEY,
  grantsFromRules,
  readRule,
  reconcilePlan,
  ruleDescription,
  ruleTags,
  type SecurityGroupRuleFields,
} from '../src/gates/aws-sg-rules.js';

const T = Date.parse('2030-01-01T00:00:00Z');

function rule(over: Partial<SecurityGroupRuleFields> = {}, tags: Record<string, string> = {}): SecurityGroupRuleFields {
  const base = { [OWNER_TAG_KEY]: 'knockgate', [DOOR_TAG_KEY]: 'ssh', [EXPIRES_TAG_KEY]: '2030-01-01T00:01:00.000Z', ...tags };
  return {
    SecurityGroupRuleId: 'sgr-1',
    GroupId: 'sg-12345678',
    IsEgress: false,
    IpProtocol: 'tcp',
    FromPort: 22,
    ToPort: 22,
    CidrIpv4: '203.0.113.7/32',
    Tags: Object.entries(base).map(([Key, Value]) => ({ Key, Value })),
    ...over,
  };
}

describe('knockgate Security Group rules: what is ours, what has expired', () => {
  it('reads back what it writes: tags and description carry owner, door and expiry', () => {
    const written = rule({ Tags: ruleTags('ssh', T + 60_000) });
    expect(readRule(written)).toEqual({
      ruleId: 'sgr-1',
      groupId: 'sg-12345678',
      door: 'ssh',
      expiresAt: T + 60_000,
      permission: { proto: 'tcp', port: 22, cidr: '203.0.113.7/32', family: 4 },
    });
    expect(ruleDescription('ssh', T + 60_000)).toBe('knockgate door ssh until 2030-01-01T00:01:00.000Z');
    expect(ruleDescription('x'.repeat(400), T).length).toBe(MAX_DESCRIPTION_CHARS);
  });

  it('is not ours without the owner tag, or as an egress rule', () => {
    expect(readRule(rule({ Tags: [] }))).toBeUndefined();
    expect(readRule(rule({}, { [OWNER_TAG_KEY]: 'someone-else' }))).toBeUndefined();
    expect(readRule(rule({ IsEgress: true }))).toBeUndefined();
  });

  it('fails closed: an owned rule with an unreadable expiry, no door, a port range or a wide CIDR is due now', () => {
    const odd = [
      rule({}, { [EXPIRES_TAG_KEY]: 'tomorrow' }),
      rule({}, { [EXPIRES_TAG_KEY]: '2030-01-01' }),
      rule({ Tags: [{ Key: OWNER_TAG_KEY, Value: 'knockgate' }] }),
      rule({ ToPort: 23 }),
      rule({ CidrIpv4: '0.0.0.0/0' }),
      rule({ IpProtocol: '-1' }),
    ].map((r) => readRule(r)!);
    const fine = readRule(rule())!;
    const plan = reconcilePlan([...odd, fine], T);
    expect(plan.revoke).toEqual(odd);
    expect(plan.keep).toEqual([fine]);
    expect(reconcilePlan([fine], T + 60_000).revoke).toEqual([fine]);
  });

  it('folds live rules back into one grant per door and source, with the latest expiry', () => {
    const rules = [
      readRule(rule({ SecurityGroupRuleId: 'sgr-1' }))!,
      readRule(rule({ SecurityGroupRuleId: 'sgr-2', FromPort: 443, ToPort: 443 }, { [EXPIRES_TAG_KEY]: '2030-01-01T00:02:00.000Z' }))!,
      readRule(rule({ SecurityGroupRuleId: 'sgr-3', GroupId: 'sg-87654321' }))!,
      readRule(rule({ SecurityGroupRuleId: 'sgr-4', CidrIpv4: undefined, CidrIpv6: '2001:db8::7/128' }))!,
    ];
    expect(grantsFromRules(rules, T)).toEqual([
      { id: 'ssh|203.0.113.7', door: 'ssh', src: '203.0.113.7', family: 4, ports: [{ proto: 'tcp', port: 22 }, { proto: 'tcp', port: 443 }], grantedAt: T, expiresAt: T + 120_000 },
      { id: 'ssh|2001:db8::7', door: 'ssh', src: '2001:db8::7', family: 6, ports: [{ proto: 'tcp', port: 22 }], grantedAt: T, expiresAt: T + 60_000 },
    ]);
  });
});
