/**
 * Where a key is defined in TOML text. smol-toml gives values without positions, so schema
 * errors find their line here: a line scan that knows table headers, dotted and quoted keys and
 * multi-line strings — enough to point an operator at the right line, not a TOML parser.
 */

export type KeyPath = readonly (string | number)[];

/**
 * Indexes the text once; the returned function gives the 1-based line of the most specific part
 * of `path` that the text defines, or undefined if none.
 */
export function keyLocator(text: string): (path: KeyPath) => number | undefined {
  const lines = keyLines(text);
  return (path) => {
    const keys: string[] = [];
    for (const seg of path) {
      // An array index points into the value, which starts on its key's line.
      if (typeof seg === 'number') break;
      keys.push(seg);
    }
    for (let n = keys.length; n > 0; n--) {
      const line = lines.get(joinKey(keys.slice(0, n)));
      if (line !== undefined) return line;
    }
    return undefined;
  };
}

/** First line on which each key path (and every prefix of it) appears. */
function keyLines(text: string): Map<string, number> {
  const found = new Map<string, number>();
  let table: string[] = [];
  let openString: '"""' | "'''" | undefined;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    if (openString) {
      if (raw.includes(openString)) openString = undefined;
      continue;
    }
    const line = raw.trim();
    const header = /^\[\[?(.*?)\]\]?\s*(#.*)?$/.exec(line);
    if (header) {
      const keys = splitKey(header[1] ?? '');
      if (keys) {
        table = keys;
        record(found, table, i + 1);
      }
      continue;
    }
    const eq = keyEnd(line);
    if (eq === undefined) continue;
    const keys = splitKey(line.slice(0, eq));
    if (!keys) continue;
    record(found, [...table, ...keys], i + 1);
    openString = opensMultilineString(line.slice(eq + 1));
  }
  return found;
}

function record(found: Map<string, number>, keys: string[], line: number): void {
  for (let n = 1; n <= keys.length; n++) {
    const k = joinKey(keys.slice(0, n));
    if (!found.has(k)) found.set(k, line);
  }
}

function joinKey(keys: readonly string[]): string {
  return keys.join('\u0000');
}

/** Index of the `=` that ends a key at the start of the line, skipping quoted parts. */
function keyEnd(line: string): number | undefined {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '=') {
      return i;
    } else if (!/[A-Za-z0-9_.\- \t]/.test(c)) {
      return undefined;
    }
  }
  return undefined;
}

/** `a."b.c".d` → ['a', 'b.c', 'd']; undefined if it is not a key. */
function splitKey(text: string): string[] | undefined {
  const keys: string[] = [];
  const part = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)/y;
  let pos = 0;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) return undefined;
    keys.push(m[1] !== undefined ? unescapeBasic(m[1]) : (m[2] ?? m[3] ?? ''));
    pos = part.lastIndex;
    if (m[4] === '') break;
  }
  return keys.length > 0 ? keys : undefined;
}

function unescapeBasic(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}

/** Whether a value starts a multi-line string that does not close on the same line. */
function opensMultilineString(value: string): '"""' | "'''" | undefined {
  for (const q of ['"""', "'''"] as const) {
    const start = value.indexOf(q);
    if (start !== -1 && value.indexOf(q, start + 3) === -1) return q;
  }
  return undefined;
}
