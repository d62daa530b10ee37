import { describe, expect, it } from 'vitest';
import { EnforcementWatch } from '../../src/gates/enforcement-watch.js';
import type { EnforcementEvent } from '../../src/gates/gate.js';
import { enforcementProblems } from '../../src/gates/iptables-rules.js';
import { fingerprint, fingerprintDifference, isGrantSet } from '../../src/gates/nft-enforcement.js';
import { monitorLineChange } from '../../src/gates/nft-monitor.js';
import { waitFor } from '../../src/lab/wait.js';

describe('nft monitor lines: what concerns the enforcement', () => {
  const watched = { table: 'knockgate', elementSets: isGrantSet, hostTable: 'inet filter' };
  it.each([
    ['delete table inet knockgate', 'table-deleted'],
    ['delete rule inet knockgate input handle 6', 'changed'],
    ['add rule inet knockgate input tcp dport 22 accept', 'changed'],
    ['delete element inet knockgate protected { tcp . 22 }', 'changed'],
    ['delete rule inet filter input handle 12', 'changed'],
    ['delete table inet filter', 'changed'],
  ])('%s → %s', (line, kind) => {
    expect(monitorLineChange(line, watched)?.kind).toBe(kind);
  });
  it.each([
    'add element inet knockgate grants4 { 10.0.0.2 . tcp . 22 timeout 30s expires 30s }',
    'delete element inet knockgate grants6 { fd00::2 . tcp . 22 }',
    'add element inet knockgate kd_0_ssh_s1_4 { 10.0.0.2 timeout 10s }',
    'add rule inet filter input tcp dport 80 accept',
    'delete table ip nat',
    '# new generation 12 by process 1234 (nft)',
  ])('%s → nothing', (line) => {
    expect(monitorLineChange(line, watched)).toBeUndefined();
  });
});

describe('fingerprints of knockgate objects', () => {
  const chain = { chain: { family: 'inet', table: 'knockgate', name: 'input', handle: 3, hook: 'input', prio: -10 } };
  const rule = (handle: number, verdict: string) => ({ rule: { family: 'inet', table: 'knockgate', chain: 'input', handle, expr: [{ [verdict]: null }] } });
  const protectedSet = (ports: number[]) => [{ set: { family: 'inet', table: 'knockgate', name: 'protected', handle: 1, elem: ports.map((p) => ({ concat: ['tcp', p] })) } }];
  const base = fingerprint('knockgate', [chain, rule(4, 'return'), rule(5, 'drop')], protectedSet([22]));

  it('ignores handles, the guard chain and grant elements; sees missing rules, changed ports and added rules', () => {
    const renumbered = fingerprint('knockgate', [chain, rule(40, 'return'), rule(50, 'drop'), { chain: { family: 'inet', table: 'knockgate', name: 'kg_guard', handle: 9 } }], protectedSet([22]));
    expect(fingerprintDifference(base, renumbered)).toBeUndefined();
    expect(fingerprintDifference(base, fingerprint('knockgate', [chain, rule(4, 'return')], protectedSet([22])))).toBe('rules of chain input changed');
    expect(fingerprintDifference(base, fingerprint('knockgate', [chain, rule(1, 'accept'), rule(4, 'return'), rule(5, 'drop')], protectedSet([22])))).toBe('rules of chain input changed');
    expect(fingerprintDifference(base, fingerprint('knockgate', [chain, rule(4, 'return'), rule(5, 'drop')], protectedSet([])))).toBe('elements of set protected changed');
    expect(fingerprintDifference(base, fingerprint('knockgate', [], protectedSet([22])))).toBe('chain input is gone; rules of chain input are gone');
  });
});

describe('iptables-save: what is wrong with the chains', () => {
  const save = (input: string, grants: string) => `*filter
:INPUT ACCEPT [0:0]
:KNOCKGATE - [0:0]
:KNOCKGATE-grants - [0:0]
${input}-A KNOCKGATE -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A KNOCKGATE -j KNOCKGATE-grants
-A KNOCKGATE -p tcp -m tcp --dport 22 -j DROP
${grants}COMMIT
`;
  const grant = '-A KNOCKGATE-grants -s 10.0.0.2/32 -p tcp -m tcp --dport 22 -m time --datestop 2030-01-01T00:00:00 -j ACCEPT\n';
  const baseline = ['-A KNOCKGATE -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN', '-A KNOCKGATE -j KNOCKGATE-grants', '-A KNOCKGATE -p tcp -m tcp --dport 22 -j DROP'];
  it('reads intact chains as intact, and names a missing jump, chain or grant rule', () => {
    expect(enforcementProblems(save('-A INPUT -j KNOCKGATE\n', grant), 'KNOCKGATE', 4, baseline, ['10.0.0.2|tcp|22'])).toEqual([]);
    expect(enforcementProblems(save('', grant), 'KNOCKGATE', 4, baseline, [])).toEqual(['the jump from INPUT to KNOCKGATE is gone (IPv4)']);
    expect(enforcementProblems(save('-A INPUT -j KNOCKGATE\n', ''), 'KNOCKGATE', 4, baseline, ['10.0.0.2|tcp|22'])).toEqual(['1 grant rule is gone from KNOCKGATE-grants (IPv4)']);
    expect(enforcementProblems('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', 'KNOCKGATE', 6, baseline, [])).toEqual(['chain KNOCKGATE is gone (IPv6)']);
  });
});

describe('the watch loop', () => {
  it('restores what a check finds, then paces restores past the burst and says why', async () => {
    const events: EnforcementEvent[] = [];
    let restores = 0;
    const watch = new EnforcementWatch({
      gate: 'test',
      intervalMs: 60_000,
      pacing: { burst: 2, refillMs: 60_000 },
      check: async () => 'rules gone',
      restore: async () => ({ grants: ++restores, at: Date.now() }),
      listener: (e) => events.push(e),
    });
    for (let i = 1; i <= 3; i++) {
      watch.poke();
      await waitFor(() => events.length >= i || undefined, { timeoutMs: 1_000, what: `event ${i}` });
    }
    expect(events.map((e) => e.kind)).toEqual(['restored', 'restored', 'restore-failed']);
    expect(events[2]).toMatchObject({ error: expect.stringMatching(/^2 restores in a row; the next in 60 s$/) });
    expect(watch.state()).toMatchObject({ state: 'lost', losses: 3 });
    // While paced, further pokes say nothing new and restore nothing.
    watch.poke();
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toHaveLength(3);
    expect(restores).toBe(2);
    await watch.stop();
  });
});
