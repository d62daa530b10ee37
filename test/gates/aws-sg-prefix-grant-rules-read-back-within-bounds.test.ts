import { describe, expect, it } from 'vitest';
import { DOOR_TAG_KEY, EXPIRES_TAG_KEY, OWNER_TAG_KEY, grantsFromRules, isExpired, permissionsFor, readRule, type SecurityGroupRuleFields } from '../../src/gates/aws-sg-rules.js';

/** A prefix grant (grant_prefix) is one rule for the network; read back after a restart it is the same grant, and nothing wider than a door may grant is ever knockgate's. */
const T = Date.parse('2030-01-01T00:00:00Z');

function rule(cidr: { CidrIpv4?: string; CidrIpv6?: string }): SecurityGroupRuleFields {
  const tags = { [OWNER_TAG_KEY]: 'knockgate', [DOOR_TAG_KEY]: 'ssh', [EXPIRES_TAG_KEY]: '2030-01-01T00:01:00.000Z' };
  return { SecurityGroupRuleId: 'sgr-1', GroupId: 'sg-12345678', IsEgress: false, IpProtocol: 'tcp', FromPort: 22, ToPort: 22, ...cidr, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
}

describe('aws-sg rules of prefix grants', () => {
  it('a prefix grant asks for the network as CidrIp', () => {
    const grant = { id: 'ssh|203.0.113.0/24', door: 'ssh', src: '203.0.113.0', prefix: 24, family: 4 as const, ports: [{ proto: 'tcp' as const, port: 22 }], grantedAt: T, expiresAt: T + 60_000 };
    expect(permissionsFor(grant)).toEqual([{ proto: 'tcp', port: 22, cidr: '203.0.113.0/24', family: 4 }]);
  });

  it('a /24 and a /64 rule read back as the prefix grants they were, with the id the desk gives them', () => {
    const [v4] = grantsFromRules([readRule(rule({ CidrIpv4: '203.0.113.0/24' }))!], T);
    expect(v4).toMatchObject({ id: 'ssh|203.0.113.0/24', src: '203.0.113.0', prefix: 24, family: 4 });
    const [v6] = grantsFromRules([readRule(rule({ CidrIpv6: '2001:db8:1:2::/64' }))!], T);
    expect(v6).toMatchObject({ id: 'ssh|2001:db8:1:2::/64', src: '2001:db8:1:2::', prefix: 64, family: 6 });
    const [single] = grantsFromRules([readRule(rule({ CidrIpv4: '203.0.113.7/32' }))!], T);
    expect(single).toMatchObject({ id: 'ssh|203.0.113.7', src: '203.0.113.7' });
    expect(single!.prefix).toBeUndefined();
  });

  it.each(['10.0.0.0/8', '0.0.0.0/0', '203.0.113.0/15'])('a knockgate-tagged rule for %s, wider than a door may grant, counts as expired and goes', (cidr) => {
    expect(isExpired(readRule(rule({ CidrIpv4: cidr }))!, T)).toBe(true);
  });

  it('an IPv6 rule wider than /48 counts as expired', () => {
    expect(isExpired(readRule(rule({ CidrIpv6: '2001:db8::/32' }))!, T)).toBe(true);
  });
});
