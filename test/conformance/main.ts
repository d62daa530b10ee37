import { knockdGroups, quickGroups } from './knockd/cases.js';
import { formatReport, runKnockdConformance } from './knockd/run-knockd.js';

/**
 * `npm run conformance -- --peer knockd [--quick] [--only REGEX] [--verbose] [--keep DIR]`: runs the
 * differential cases against the real peer and prints the cases run and the differences (each one
 * with --verbose); exits 1 on an undeclared one. --keep DIR keeps each batch's files (both daemons'
 * knockd.conf, logs, command records, knockd's debug output) under DIR.
 */
async function main(argv: string[]): Promise<number> {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const peer = value('--peer');
  if (peer !== 'knockd') {
    process.stderr.write(`usage: npm run conformance -- --peer knockd [--quick] [--only REGEX] [--verbose] [--keep DIR]\n${peer === undefined ? 'give --peer' : `unknown peer "${peer}"`}\n`);
    return 2;
  }
  const only = value('--only');
  const groups = (argv.includes('--quick') ? quickGroups() : knockdGroups())
    .map((g) => ({ ...g, cases: g.cases.filter((c) => only === undefined || new RegExp(only).test(c.id)) }))
    .filter((g) => g.cases.length > 0);
  const started = Date.now();
  const keep = value('--keep');
  const report = await runKnockdConformance(groups, (line) => process.stdout.write(`${line}\n`), keep);
  for (const line of formatReport(report, argv.includes('--verbose'))) process.stdout.write(`${line}\n`);
  process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  return report.differences.some((d) => d.verdict.kind === 'undeclared') ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
