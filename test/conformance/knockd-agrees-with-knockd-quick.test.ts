import { describe, expect, it } from 'vitest';
import { quickGroups } from './knockd/cases.js';
import { formatReport, runKnockdConformance } from './knockd/run-knockd.js';

/**
 * The quick subset of the knockd differential run (`npm run conformance -- --peer knockd` runs
 * all of it): the real knockd 0.8 and `knockgate serve --knockd-conf` side by side in one lab, on
 * the same knockd.conf and the same frames. Every difference must be declared, with its reason,
 * in deliberate-differences.toml.
 */
describe('knockgate serve --knockd-conf agrees with knockd 0.8 (quick subset)', () => {
  it('runs the same commands at the same times, writes the same log lines and one-time files, except where declared', async () => {
    const report = await runKnockdConformance(quickGroups());
    process.stdout.write(`${formatReport(report).join('\n')}\n`);
    const undeclared = report.differences.filter((d) => d.verdict.kind === 'undeclared').map((d) => `${d.caseId} (${d.aspect}): ${d.detail}`);
    expect(undeclared).toEqual([]);
    // Not a vacuous agreement: knockd ran commands in most cases.
    expect(report.casesRun).toBeGreaterThan(50);
    expect(report.casesThatOpened).toBeGreaterThan(report.casesRun / 2);
  }, 90_000);
});
