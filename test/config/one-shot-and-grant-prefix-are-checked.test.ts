import { describe, expect, it } from 'vitest';
import { describeConfig } from '../../src/cli/commands/check.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { configRefusal } from '../support/config-refusal.js';
import type { GateAction } from '../../src/config/model.js';
import { scopedGrant } from '../../src/core/grant-scope.js';
import type { Grant } from '../../src/core/grant.js';

const KEY = Buffer.alloc(32, 0x21).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0x12).toString('base64');

const knockDoor = (extra: string) => `[door.ssh]
sequence = ["7000", "8000", "9000"]
open = ["22/tcp"]
${extra}
`;
const spaDoor = (extra: string) => `[spa_door.ops]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC_KEY}"
open = ["22/tcp"]
${extra}
`;


describe('one_shot, grant_prefix and grant_prefix6 on a door', () => {
  it('are off by default: a door grants its one address for the whole grant', () => {
    const config = parseKnockgateToml(knockDoor('') + spaDoor(''), 'k.toml');
    expect((config.doors[0]!.action as GateAction).scope).toBeUndefined();
    expect(config.spa!.doors[0]!.scope).toBeUndefined();
  });

  it('are read on knock doors and SPA doors alike', () => {
    const config = parseKnockgateToml(knockDoor('one_shot = true') + spaDoor('grant_prefix = 24\ngrant_prefix6 = 64'), 'k.toml');
    expect((config.doors[0]!.action as GateAction).scope).toEqual({ oneShot: true });
    expect(config.spa!.doors[0]!.scope).toEqual({ oneShot: false, prefix4: 24, prefix6: 64 });
  });

  it.each([
    ['grant_prefix = 15', 'door.ssh.grant_prefix', /IPv4 prefix length 16 \.\. 32 \(wider than \/16 is refused/],
    ['grant_prefix = 33', 'door.ssh.grant_prefix', /16 \.\. 32/],
    ['grant_prefix = 0', 'door.ssh.grant_prefix', /16 \.\. 32/],
    ['grant_prefix6 = 47', 'door.ssh.grant_prefix6', /IPv6 prefix length 48 \.\. 128/],
    ['grant_prefix6 = 129', 'door.ssh.grant_prefix6', /48 \.\. 128/],
    ['one_shot = "yes"', 'door.ssh.one_shot', /true or false/],
  ])('refuses %s, naming the line and field', (line, field, message) => {
    expect(configRefusal(knockDoor(line)).problems).toEqual([expect.objectContaining({ line: 4, field, message: expect.stringMatching(message) })]);
  });

  it.each([
    ['one_shot = true\ngate = "command"\nstart = ["/bin/true"]', 'door.ssh.one_shot', /gate = "command" cannot/],
    ['grant_prefix = 24\ngate = "command"\nstart = ["/bin/true"]', 'door.ssh.grant_prefix', /a prefix grant needs gate/],
    ['grant_prefix = 24\none_shot = true', 'door.ssh.grant_prefix', /a prefix grant cannot be one-shot/],
    ['one_shot = true\nkernel = true', 'door.ssh.kernel', /kernel-only door grants the knocking address itself/],
  ])('refuses what the gate cannot enforce: %s', (lines, field, message) => {
    expect(configRefusal(knockDoor(lines)).problems).toContainEqual(expect.objectContaining({ field, message: expect.stringMatching(message) }));
  });

  it('takes one_shot with gate = "aws-sg": the daemon revokes the rule at the first connection', () => {
    const config = parseKnockgateToml(knockDoor('one_shot = true\ngate = "aws-sg"\n[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]'), 'k.toml');
    expect((config.doors[0]!.action as GateAction).scope).toEqual({ oneShot: true });
  });

  it('knockgate check describes them on each door', () => {
    const text = describeConfig(parseKnockgateToml(knockDoor('one_shot = true') + spaDoor('grant_prefix = 24'), 'k.toml'));
    expect(text).toContain("  grants:    the IPv4 address, the IPv6 address; one-shot: the first new connection uses a port's grant up\n");
    expect(text).toContain("  grants:    the IPv4 source's /24, the IPv6 address\n");
  });

  it('refuses a prefix on an SPA door with NAT targets', () => {
    const problems = configRefusal(spaDoor('grant_prefix = 24\nnat_targets = ["192.168.1.10:22"]')).problems;
    expect(problems).toContainEqual(expect.objectContaining({ field: 'spa_door.ops.grant_prefix', message: expect.stringMatching(/NAT access forwards one address/) }));
  });
});

describe('a grant shaped by the door', () => {
  const grant = (src: string, family: 4 | 6): Grant => ({ id: `ssh|${src}`, door: 'ssh', src, family, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 0, expiresAt: 30_000 });

  it('covers the source network with a prefix, named by the network, so the same network extends one grant', () => {
    expect(scopedGrant(grant('10.200.7.77', 4), { oneShot: false, prefix4: 24 })).toMatchObject({ src: '10.200.7.0', prefix: 24, id: 'ssh|10.200.7.0/24' });
    expect(scopedGrant(grant('10.200.7.5', 4), { oneShot: false, prefix4: 24 }).id).toBe('ssh|10.200.7.0/24');
    expect(scopedGrant(grant('fd00:200:1:2:3:4:5:6', 6), { oneShot: false, prefix4: 24, prefix6: 64 })).toMatchObject({ src: 'fd00:200:1:2::', prefix: 64 });
    expect(scopedGrant(grant('10.200.7.77', 4), { oneShot: false, prefix4: 20 }).src).toBe('10.200.0.0');
  });

  it('leaves a family without a prefix, and a full-length prefix, as the one address', () => {
    expect(scopedGrant(grant('fd00:200::9', 6), { oneShot: false, prefix4: 24 })).toEqual(grant('fd00:200::9', 6));
    expect(scopedGrant(grant('10.200.7.77', 4), { oneShot: true, prefix4: 32 })).toEqual({ ...grant('10.200.7.77', 4), oneShot: true });
  });
});
