import { describe, expect, it } from 'vitest';
import { allCases } from './cases.js';
import { runFwknopCases } from './run-cases.js';
import { summarize } from '../support/deliberate-differences.js';

/** The full fwknop run: every case of cases.ts (`npm run conformance -- --peer fwknop`; KG_CASES=pattern narrows it). */
describe('fwknop conformance, full run', () => {
  it('has no undeclared difference', async () => {
    const filter = process.env.KG_CASES;
    const cases = allCases().filter((c) => filter === undefined || c.id.includes(filter));
    const started = Date.now();
    const results = await runFwknopCases(cases, { onResult: (r) => process.stdout.write(r.peer === r.knockgate ? '.' : r.declared ? 'd' : 'X') });
    const { text, undeclared } = summarize('fwknop', results);
    console.log(`\n${cases.length} cases run in ${Math.round((Date.now() - started) / 1000)} s\n${text}`);
    expect(undeclared.length).toBe(0);
  }, 3_600_000);
});
