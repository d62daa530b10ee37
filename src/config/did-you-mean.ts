/**
 * The known name an unknown one was most likely meant to be (`open_fro` → `open_for`), for
 * "unknown setting" messages. Case, `-` and `_` are ignored; at most one edit in three
 * characters (transposing two counts as one). Pure.
 */
export function closestName(word: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const w = norm(word);
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const d = editDistance(w, norm(name));
    if (d <= Math.max(1, Math.floor(w.length / 3)) && (best === undefined || d < best.distance)) best = { name, distance: d };
  }
  return best?.name;
}

/** ` (did you mean open_for?)`, or nothing. */
export function didYouMean(word: string, known: readonly string[]): string {
  const name = closestName(word, known);
  return name === undefined || name === word ? '' : ` (did you mean ${name}?)`;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent transpositions. */
function editDistance(a: string, b: string): number {
  // Names are short (config keys); a long word is not a typo of one.
  if (Math.abs(a.length - b.length) > 3 || a.length > 64 || b.length > 64) return Infinity;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
