import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';

/**
 * The one list of cases where knockgate deliberately differs from a peer, each with its reason:
 * `test/conformance/deliberate-differences.toml`, tables `[<peer>.<case-id-or-pattern>]`. A
 * pattern uses `*` for any run of characters. An entry may say what knockgate observes instead
 * (`knockgate`, a substring of the observation); a case it matches whose observation does not
 * contain it is still a difference, so an entry cannot hide a new divergence.
 */

export const DELIBERATE_DIFFERENCES_FILE = new URL('../deliberate-differences.toml', import.meta.url);

export interface DeliberateDifference {
  pattern: string;
  reason: string;
  knockgate?: string;
}

/** The entries for one peer (`knockd`, `fwknop`), in file order. */
export function deliberateDifferences(peer: string, text = readFileSync(DELIBERATE_DIFFERENCES_FILE, 'utf8')): DeliberateDifference[] {
  const table = (parse(text) as Record<string, unknown>)[peer];
  if (table === undefined) return [];
  if (typeof table !== 'object' || table === null) throw new Error(`deliberate-differences.toml: [${peer}] is not a table`);
  return Object.entries(table as Record<string, unknown>).map(([pattern, entry]) => {
    const e = entry as { reason?: unknown; knockgate?: unknown };
    if (typeof e.reason !== 'string' || e.reason.trim() === '') throw new Error(`deliberate-differences.toml: [${peer}."${pattern}"] needs a reason`);
    if (e.knockgate !== undefined && typeof e.knockgate !== 'string') throw new Error(`deliberate-differences.toml: [${peer}."${pattern}"].knockgate must be a string`);
    return { pattern, reason: e.reason, ...(typeof e.knockgate === 'string' && { knockgate: e.knockgate }) };
  });
}

/** Whether a table's pattern (`*` for any run of characters) names case `id`. */
export function matchesPattern(pattern: string, id: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(id);
}

/** The entry that declares this difference (by case id, and knockgate's observation if the entry names one). */
export function declaredDifference(entries: readonly DeliberateDifference[], id: string, knockgateObserved: string): DeliberateDifference | undefined {
  return entries.find((e) => matchesPattern(e.pattern, id) && (e.knockgate === undefined || knockgateObserved.includes(e.knockgate)));
}

/** One compared case: what the peer and knockgate did, and whether the difference (if any) is declared. */
export interface CaseResult {
  id: string;
  peer: string;
  knockgate: string;
  declared?: DeliberateDifference;
}

/** Cases run, equal, declared and undeclared differences, as one report. */
export function summarize(peer: string, results: readonly CaseResult[]): { text: string; undeclared: CaseResult[] } {
  const differing = results.filter((r) => r.peer !== r.knockgate);
  const undeclared = differing.filter((r) => !r.declared);
  const declared = differing.filter((r) => r.declared);
  const lines = [`${peer} conformance: ${results.length} comparisons, ${results.length - differing.length} equal, ${declared.length} deliberate differences, ${undeclared.length} undeclared differences`];
  const byReason = new Map<string, number>();
  for (const r of declared) byReason.set(r.declared!.pattern, (byReason.get(r.declared!.pattern) ?? 0) + 1);
  for (const [pattern, n] of byReason) lines.push(`  deliberate ${pattern}: ${n}`);
  for (const r of undeclared) lines.push(`  DIFFERENT ${r.id}\n    ${peer}: ${r.peer}\n    knockgate: ${r.knockgate}`);
  return { text: lines.join('\n'), undeclared };
}
