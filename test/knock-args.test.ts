import { describe, expect, it } from 'vitest';
import { KnockArgumentError, MAX_DELAY_MS, parseDelay, parseFamily, parseKnockTargets } from '../src/client/knock-args.js';

function argumentError(fn: () => unknown): KnockArgumentError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KnockArgumentError) return e;
    throw e;
  }
  throw new Error('expected a KnockArgumentError');
}

describe('knock arguments', () => {
  it('reads ports as knock does: TCP by default, UDP only for the suffix "udp"', () => {
    const plan = parseKnockTargets(['7000', '8000:udp', '9000:tcp', '1', '65535:udp']);
    expect(plan.steps).toEqual([
      { port: 7000, proto: 'tcp' },
      { port: 8000, proto: 'udp' },
      { port: 9000, proto: 'tcp' },
      { port: 1, proto: 'tcp' },
      { port: 65535, proto: 'udp' },
    ]);
    expect(plan.warnings).toEqual([]);
  });

  it('treats any other suffix as TCP, like knock, and warns about it', () => {
    const plan = parseKnockTargets(['8000:UDP', '9000:', '7000:sctp']);
    expect(plan.steps.map((s) => s.proto)).toEqual(['tcp', 'tcp', 'tcp']);
    expect(plan.warnings).toHaveLength(3);
    expect(plan.warnings[0]).toContain('8000:UDP');
  });

  it('makes every hit UDP with -u, whatever the suffix', () => {
    const plan = parseKnockTargets(['7000:tcp', '8000', '9000:udp'], true);
    expect(plan.steps.map((s) => s.proto)).toEqual(['udp', 'udp', 'udp']);
  });

  it.each(['0', '65536', '70000', 'abc', '', ':udp', '-1', '7000x', '1e3', ' 80', '123456'])('rejects the port "%s", naming it', (arg) => {
    const err = argumentError(() => parseKnockTargets(['7000', arg]));
    expect(err.argument).toBe(arg);
    expect(err.message).toContain(`"${arg}"`);
    expect(err.message).toContain('1 to 65535');
  });

  it('needs at least one port', () => {
    expect(argumentError(() => parseKnockTargets([])).message).toMatch(/at least one/);
  });

  it('reads the delay as whole milliseconds', () => {
    expect(parseDelay('0')).toBe(0);
    expect(parseDelay('250')).toBe(250);
    expect(parseDelay(String(MAX_DELAY_MS))).toBe(MAX_DELAY_MS);
    for (const bad of ['-5', 'abc', '1.5', '', String(MAX_DELAY_MS + 1)]) {
      const err = argumentError(() => parseDelay(bad));
      expect(err.argument).toBe(bad);
      expect(err.message).toContain('--delay');
    }
  });

  it('picks the address family from -4/-6 and refuses both', () => {
    expect(parseFamily({})).toBeUndefined();
    expect(parseFamily({ ipv4: true })).toBe(4);
    expect(parseFamily({ ipv6: true })).toBe(6);
    expect(argumentError(() => parseFamily({ ipv4: true, ipv6: true })).message).toMatch(/not both/);
  });
});
