import { describe, expect, it } from 'vitest';
import { GateError } from '../src/gates/gate.js';
import { parseSetElements } from '../src/gates/nftables.js';
import { grantCommand, installScript, manualHostRule, revokeCommand } from '../src/gates/nft-ruleset.js';

describe('nftables ruleset text', () => {
  it('re-grants by add, delete, add in one line so the new timeout holds on any kernel', () => {
    expect(grantCommand('knockgate', [{ family: 4, src: '10.0.0.2', proto: 'tcp', port: 22 }], 2500)).toBe(
      'add element inet knockgate grants4 { 10.0.0.2 . tcp . 22 }; delete element inet knockgate grants4 { 10.0.0.2 . tcp . 22 }; ' +
        'add element inet knockgate grants4 { 10.0.0.2 . tcp . 22 timeout 2500ms }',
    );
    expect(revokeCommand('kg', [{ family: 6, src: 'fd00::2', proto: 'udp', port: 53 }])).toBe(
      'add element inet kg grants6 { fd00::2 . udp . 53 }; delete element inet kg grants6 { fd00::2 . udp . 53 }',
    );
  });

  it('never flushes or deletes the grant sets on install', () => {
    const script = installScript({ table: 'knockgate', mark: 0x4b47, protectedPorts: [{ proto: 'tcp', port: 22 }], grantSetSize: 10 });
    expect(script).not.toMatch(/(flush|delete) set inet knockgate grants/);
    expect(script).toMatch(/add set inet knockgate grants4 \{ type ipv4_addr \. inet_proto \. inet_service; flags timeout; size 10; \}/);
    expect(script).toMatch(/flush set inet knockgate protected\nadd element inet knockgate protected \{ tcp \. 22 \}/);
  });

  it('refuses text that would change the meaning of the script', () => {
    expect(() => grantCommand('knockgate', [{ family: 4, src: '10.0.0.2 } ; flush ruleset', proto: 'tcp', port: 22 }], 1000)).toThrow(GateError);
    expect(() => grantCommand('knockgate', [{ family: 4, src: 'fd00::1', proto: 'tcp', port: 22 }], 1000)).toThrow(/invalid IPv4 source/);
    expect(() => grantCommand('a b', [], 1000)).toThrow(/invalid nft table name/);
    expect(() => grantCommand('kg', [{ family: 4, src: '10.0.0.2', proto: 'tcp', port: 70000 }], 1000)).toThrow(/invalid port/);
  });

  it('gives operators the manual host rule for nft and iptables-nft', () => {
    expect(manualHostRule(0x4b47)).toBe(
      [
        "nft 'insert rule inet filter input meta mark & 0x4b47 == 0x4b47 accept'",
        'iptables -I INPUT -m mark --mark 0x4b47/0x4b47 -j ACCEPT',
        'ip6tables -I INPUT -m mark --mark 0x4b47/0x4b47 -j ACCEPT',
      ].join('\n'),
    );
  });

  it('reads elements and their remaining time from nft -j list set', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          set: {
            name: 'grants4',
            elem: [{ elem: { val: { concat: ['10.0.0.2', 'tcp', 22] }, timeout: 30, expires: 29 } }, { concat: ['10.0.0.3', 'udp', 53] }],
          },
        },
      ],
    });
    expect(parseSetElements(json)).toEqual([
      { src: '10.0.0.2', proto: 'tcp', port: 22, expiresInMs: 29_000 },
      { src: '10.0.0.3', proto: 'udp', port: 53 },
    ]);
  });
});
