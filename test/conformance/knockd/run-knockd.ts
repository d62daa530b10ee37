import { covers, matchesPattern, readDeclared, verdictFor, type DeclaredDifference, type Verdict } from '../deliberate.js';
import { runBatch, type BatchResult } from './batch.js';
import type { CaseGroup, KnockdCase } from './case.js';
import { compareBatch, type Difference } from './compare.js';
import { createConformanceLab, type ConformanceLab } from './conformance-lab.js';

/**
 * Runs groups of knockd cases, knockd and knockgate side by side, and sorts every difference
 * into deliberate (declared with a reason), pending (a known bug being fixed elsewhere) and
 * undeclared (a failure).
 */

/**
 * Cases per knockd/knockgate pair. knockd compiles one libpcap filter for all its doors, at
 * start and again after every one-time open: ~360 ms for 40 doors here, ~840 ms for 80, and it
 * sees no packet meanwhile. Cases with one-time doors therefore go in small batches; the others
 * fill one knockd (~70 doors) that compiles its filter once.
 */
export const CASES_PER_BATCH = 48;
export const ONE_TIME_CASES_PER_BATCH = 6;

/** The group's cases in batches: one-time ones apart and fewer at a time. */
function chunks(group: CaseGroup): KnockdCase[][] {
  const oneTime = group.cases.filter((c) => c.doors.some((d) => d.oneTime));
  const rest = group.cases.filter((c) => !oneTime.includes(c));
  const split = (list: KnockdCase[], size: number): KnockdCase[][] => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));
  return [...split(rest, CASES_PER_BATCH), ...split(oneTime, ONE_TIME_CASES_PER_BATCH)];
}

export interface JudgedDifference extends Difference {
  verdict: Verdict;
}

export interface KnockdRunReport {
  casesRun: number;
  batches: number;
  framesSent: number;
  /** Cases where knockd ran at least one command: the run did exercise opening. */
  casesThatOpened: number;
  differences: JudgedDifference[];
  /** Declared entries that matched a case run, but none of whose cases differed in a declared aspect. */
  unseen: DeclaredDifference[];
  results: BatchResult[];
}

export async function runKnockdConformance(groups: CaseGroup[], log: (line: string) => void = () => undefined, keepDir?: string): Promise<KnockdRunReport> {
  const declared = readDeclared('knockd');
  const results: BatchResult[] = [];
  // Groups that need the same wiring share a lab.
  const byTopology = new Map<string, CaseGroup[]>();
  for (const g of groups) {
    const key = `${g.options.secondInterface}/${g.options.noEth0 ?? false}`;
    byTopology.set(key, [...(byTopology.get(key) ?? []), g]);
  }
  for (const list of byTopology.values()) {
    const first = list[0]!.options;
    let lab: ConformanceLab | undefined;
    try {
      lab = await createConformanceLab({ secondInterface: first.secondInterface, ...(first.noEth0 && { noEth0: true }) });
      for (const group of list) {
        const batches = chunks(group);
        for (const [i, chunk] of batches.entries()) {
          const name = batches.length > 1 ? `${group.name}#${i + 1}` : group.name;
          const started = Date.now();
          const result = await runBatch(lab, name, group.options, chunk, keepDir);
          results.push(result);
          log(`batch ${name}: ${chunk.length} case(s), ${result.sent} frames, ${((Date.now() - started) / 1000).toFixed(1)} s`);
        }
      }
    } finally {
      await lab?.destroy();
    }
  }

  const differences: JudgedDifference[] = results.flatMap(compareBatch).map((d) => ({ ...d, verdict: verdictFor(declared, d.caseId, d.aspect) }));
  const ids = results.flatMap((r) => r.cases.map((c) => c.kase.id));
  const unseen = declared.filter((entry) => ids.some((id) => matchesPattern(entry.pattern, id)) && !differences.some((d) => covers(entry, d.caseId, d.aspect)));
  const casesThatOpened = results.reduce((n, r) => n + r.cases.filter(({ doors }) => r.peers.knockd.commands.some((c) => doors.includes(c.door))).length, 0);
  return { casesRun: ids.length, batches: results.length, framesSent: results.reduce((n, r) => n + r.sent, 0), casesThatOpened, differences, unseen, results };
}

/** The report as lines: figures, then the differences: each undeclared and pending one, and the deliberate ones by entry (each one with `verbose`). */
export function formatReport(r: KnockdRunReport, verbose = false): string[] {
  const of = (kind: Verdict['kind']) => r.differences.filter((d) => d.verdict.kind === kind);
  const where = (list: JudgedDifference[]) => new Set(list.map((d) => d.caseId)).size;
  const lines = [
    `knockd conformance: ${r.casesRun} cases in ${r.batches} batches, ${r.framesSent} frames; knockd ran commands in ${r.casesThatOpened} of them`,
    `differences: ${r.differences.length} in ${where(r.differences)} cases or batches — ${of('undeclared').length} undeclared (${where(of('undeclared'))}), ${of('deliberate').length} deliberate (${where(of('deliberate'))}), ${of('pending').length} pending a fix (${where(of('pending'))})`,
  ];
  const each = (d: JudgedDifference) => `  ${d.caseId} (${d.aspect}): ${d.detail}`;
  if (of('undeclared').length > 0) lines.push('', 'undeclared (fix them, or declare them in deliberate-differences.toml with the reason):', ...of('undeclared').map(each));
  const byEntry = new Map<DeclaredDifference, JudgedDifference[]>();
  for (const d of [...of('pending'), ...of('deliberate')]) {
    const by = (d.verdict as { by: DeclaredDifference }).by;
    byEntry.set(by, [...(byEntry.get(by) ?? []), d]);
  }
  if (byEntry.size > 0) lines.push('', 'declared:');
  for (const [entry, list] of byEntry) {
    const aspects = [...new Set(list.map((d) => d.aspect))].join(', ');
    lines.push(`  [knockd."${entry.pattern}"]${entry.pending ? ` pending ${entry.pending}` : ''}: ${list.length} difference(s) in ${where(list)} (${aspects})`);
    if (verbose || entry.pending) lines.push(...list.map((d) => `  ${each(d)}`));
  }
  for (const entry of r.unseen) lines.push(`note: [knockd."${entry.pattern}"] matched cases that did not differ in ${entry.aspects.join(', ')}${entry.pending ? ` — if ${entry.pending} is fixed, remove the pending marker` : ''}`);
  return lines;
}
