import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allCases, QUICK_CASE_IDS } from './fwknop/cases.js';
import { runFwknopCases } from './fwknop/run-cases.js';
import { summarize } from './support/deliberate-differences.js';

const hasPeer = existsSync('/usr/sbin/fwknopd') && existsSync('/usr/bin/fwknop');

/**
 * The quick subset of the fwknop conformance run (the full one: `npm run conformance -- --peer
 * fwknop`): the same access.conf, fwknopd.conf and packets through the real fwknopd 2.6.10 and
 * knockgate, side by side; every difference must be listed in deliberate-differences.toml.
 */
describe.skipIf(!hasPeer)('knockgate matches fwknopd 2.6.10 on the quick subset of cases', () => {
  it('has no undeclared difference', async () => {
    const cases = allCases().filter((c) => QUICK_CASE_IDS.includes(c.id));
    expect(cases.map((c) => c.id).sort()).toEqual([...QUICK_CASE_IDS].sort());
    const results = await runFwknopCases(cases);
    const { text, undeclared } = summarize('fwknop', results);
    console.log(text);
    // Each case compares fwknop's packet on both servers, knockgate's, and the two clients.
    expect(results.length).toBeGreaterThanOrEqual(cases.length * 2);
    expect(undeclared.map((r) => `${r.id}: fwknopd ${r.peer} / knockgate ${r.knockgate}`)).toEqual([]);
  }, 120_000);
});
