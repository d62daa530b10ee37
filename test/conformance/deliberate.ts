import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { DELIBERATE_DIFFERENCES_FILE, matchesPattern } from './support/deliberate-differences.js';

export { matchesPattern };

/**
 * deliberate-differences.toml: where knockgate differs from a peer on purpose (each with its
 * reason), and where it differs because of a known bug whose fix is pending. Tables are
 * `[<peer>."<case id or pattern>"]`; `*` in a pattern matches any run of characters. A difference
 * the file does not cover fails the run.
 */

export const DELIBERATE_FILE = fileURLToPath(DELIBERATE_DIFFERENCES_FILE);

export interface DeclaredDifference {
  peer: string;
  pattern: string;
  /** Aspects that may differ; `*` for any. */
  aspects: string[];
  reason: string;
  /** Not deliberate: a bug being fixed elsewhere (e.g. "issue 10 items 4-5"); removed once the fix is merged. */
  pending?: string;
}

export type Verdict = { kind: 'undeclared' } | { kind: 'deliberate'; by: DeclaredDifference } | { kind: 'pending'; by: DeclaredDifference };

export function readDeclared(peer: string, file = DELIBERATE_FILE): DeclaredDifference[] {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const tables = doc[peer];
  if (tables === undefined) return [];
  if (typeof tables !== 'object' || tables === null) throw new Error(`${file}: [${peer}] must be a table of tables`);
  return Object.entries(tables as Record<string, unknown>).map(([pattern, value]) => {
    const where = `${file}: [${peer}."${pattern}"]`;
    if (typeof value !== 'object' || value === null) throw new Error(`${where} must be a table`);
    const v = value as Record<string, unknown>;
    if (typeof v['reason'] !== 'string' || v['reason'].trim() === '') throw new Error(`${where} needs a reason`);
    if (!Array.isArray(v['aspects']) || v['aspects'].length === 0 || !v['aspects'].every((a) => typeof a === 'string')) throw new Error(`${where} needs aspects = ["…"]`);
    if (v['pending'] !== undefined && typeof v['pending'] !== 'string') throw new Error(`${where}: pending must be a string naming the issue`);
    const unknown = Object.keys(v).filter((k) => !['reason', 'aspects', 'pending'].includes(k));
    if (unknown.length > 0) throw new Error(`${where}: unknown key(s) ${unknown.join(', ')}`);
    return { peer, pattern, aspects: v['aspects'] as string[], reason: v['reason'], ...(v['pending'] !== undefined && { pending: v['pending'] as string }) };
  });
}

/** Whether an entry covers a difference in `aspect` of case `id`. */
export function covers(entry: DeclaredDifference, id: string, aspect: string): boolean {
  return matchesPattern(entry.pattern, id) && (entry.aspects.includes('*') || entry.aspects.includes(aspect));
}

/** How a difference in `aspect` of case `id` stands: a pending entry wins over a deliberate one. */
export function verdictFor(declared: DeclaredDifference[], id: string, aspect: string): Verdict {
  const covering = declared.filter((d) => covers(d, id, aspect));
  const pending = covering.find((d) => d.pending !== undefined);
  if (pending) return { kind: 'pending', by: pending };
  const deliberate = covering[0];
  return deliberate ? { kind: 'deliberate', by: deliberate } : { kind: 'undeclared' };
}
