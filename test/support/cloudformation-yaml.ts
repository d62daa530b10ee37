/**
 * Reads the YAML subset CloudFormation/SAM templates in this repository use (block mappings and
 * sequences, flow `{}`/`[]`, quoted and plain scalars, `|` literal blocks, and the short-form
 * intrinsics !Ref, !Sub and !GetAtt, turned into their JSON form). The package has no YAML
 * parser and gains no dependency for one test; anything outside the subset throws with its line,
 * so a template that outgrows the reader fails loudly instead of being half read.
 */
export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };

interface Line {
  no: number;
  indent: number;
  text: string;
}

export function parseCloudFormationYaml(source: string): CfnValue {
  const raw = source.split('\n');
  let at = 0;

  const fail = (no: number, why: string): never => {
    throw new Error(`template line ${no}: ${why}`);
  };
  /** The next line with content (blank and comment-only lines skipped), without consuming it. */
  const peek = (): Line | undefined => {
    for (let i = at; i < raw.length; i++) {
      const line = raw[i]!;
      const text = line.trim();
      if (text === '' || text.startsWith('#')) continue;
      if (/^\t/.test(line)) fail(i + 1, 'tab indentation');
      at = i;
      return { no: i + 1, indent: line.length - line.trimStart().length, text: stripComment(text) };
    }
    at = raw.length;
    return undefined;
  };

  const block = (indent: number): CfnValue => {
    const first = peek();
    if (!first || first.indent < indent) return null;
    return isSequenceItem(first.text) ? sequence(first.indent) : mapping(first.indent);
  };

  const mapping = (indent: number, firstLine?: Line): CfnValue => {
    const out: Record<string, CfnValue> = {};
    for (let line = firstLine ?? peek(); line && line.indent === indent && !isSequenceItem(line.text); line = peek()) {
      at = line.no;
      const { key, rest } = splitKey(line.text, line.no, fail);
      if (key in out) fail(line.no, `duplicate key ${key}`);
      out[key] = value(rest, indent, line.no);
    }
    const stray = peek();
    if (stray && stray.indent > indent) fail(stray.no, 'unexpected indentation');
    return out;
  };

  const sequence = (indent: number): CfnValue => {
    const out: CfnValue[] = [];
    for (let line = peek(); line && line.indent === indent && isSequenceItem(line.text); line = peek()) {
      const item = line.text.slice(1).trimStart();
      const itemIndent = indent + (line.text.length - item.length);
      if (item === '') {
        at = line.no;
        out.push(block(indent + 1));
      } else if (startsMapping(item)) {
        // `- key: value` opens a mapping whose keys sit at the item's column.
        out.push(mapping(itemIndent, { no: line.no, indent: itemIndent, text: item }));
      } else {
        at = line.no;
        out.push(inline(item, line.no, fail));
      }
    }
    return out;
  };

  const value = (rest: string, indent: number, no: number): CfnValue => {
    const literal = /^(?:(!Sub)\s+)?\|$/.exec(rest);
    if (literal) {
      const text = literalBlock(indent);
      return literal[1] ? { 'Fn::Sub': text } : text;
    }
    if (rest !== '') return inline(rest, no, fail);
    const next = peek();
    if (next && (next.indent > indent || (next.indent === indent && isSequenceItem(next.text)))) return block(next.indent);
    return null;
  };

  /** A `|` block: the lines indented past the key, their common indentation removed, one final newline. */
  const literalBlock = (keyIndent: number): string => {
    const lines: string[] = [];
    let i = at;
    for (; i < raw.length; i++) {
      const line = raw[i]!;
      if (line.trim() !== '' && line.length - line.trimStart().length <= keyIndent) break;
      lines.push(line);
    }
    at = i;
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    const cut = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
    return `${lines.map((l) => l.slice(cut)).join('\n')}\n`;
  };

  const root = block(0);
  const left = peek();
  if (left) fail(left.no, 'content after the document');
  return root;
}

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

function startsMapping(text: string): boolean {
  return !/^[{["'!]/.test(text) && /^[^:]+:(?:\s|$)/.test(text);
}

/** Removes a ` # comment` that is not inside quotes. */
function stripComment(text: string): string {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && i > 0 && /\s/.test(text[i - 1]!)) return text.slice(0, i).trimEnd();
  }
  return text;
}

function splitKey(text: string, no: number, fail: (no: number, why: string) => never): { key: string; rest: string } {
  const quoted = /^'((?:[^']|'')*)'\s*:(?:\s+|$)/.exec(text) ?? /^"([^"\\]*)"\s*:(?:\s+|$)/.exec(text);
  if (quoted) return { key: quoted[1]!.replace(/''/g, "'"), rest: text.slice(quoted[0].length).trim() };
  const plain = /^([^\s:{}[\],'"!&*#|>][^:]*?)\s*:(?:\s+|$)/.exec(text);
  if (!plain) return fail(no, `expected "key: value", got ${JSON.stringify(text)}`);
  return { key: plain[1]!, rest: text.slice(plain[0].length).trim() };
}

/** A value written on one line: a tag, a flow collection, a quoted or a plain scalar. */
function inline(text: string, no: number, fail: (no: number, why: string) => never): CfnValue {
  const tag = /^!(\w+)\s+(.*)$/.exec(text);
  if (tag) return intrinsic(tag[1]!, tag[2]!, no, fail);
  if (text.startsWith('{') || text.startsWith('[')) {
    const flow = new FlowReader(text, no, fail);
    const out = flow.value();
    flow.end();
    return out;
  }
  return scalar(text, no, fail);
}

function intrinsic(name: string, arg: string, no: number, fail: (no: number, why: string) => never): CfnValue {
  const value = scalar(arg, no, fail);
  if (typeof value !== 'string') return fail(no, `!${name} takes a string`);
  if (name === 'Ref') return { Ref: value };
  if (name === 'Sub') return { 'Fn::Sub': value };
  if (name === 'GetAtt') {
    const dot = value.indexOf('.');
    if (dot <= 0) return fail(no, '!GetAtt takes Resource.Attribute');
    return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
  }
  return fail(no, `tag !${name} is outside the subset`);
}

function scalar(text: string, no: number, fail: (no: number, why: string) => never): CfnValue {
  if (text.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'$/.exec(text);
    return m ? m[1]!.replace(/''/g, "'") : fail(no, `unterminated quote in ${text}`);
  }
  if (text.startsWith('"')) {
    const m = /^"([^"\\]*)"$/.exec(text);
    return m ? m[1]! : fail(no, `double-quoted escapes are outside the subset: ${text}`);
  }
  if (/^[&*|>%@`]/.test(text)) return fail(no, `${text[0]} is outside the subset`);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  return text;
}

class FlowReader {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly no: number,
    private readonly fail: (no: number, why: string) => never,
  ) {}

  value(): CfnValue {
    this.space();
    const c = this.s[this.i];
    if (c === '{') return this.map();
    if (c === '[') return this.list();
    return scalar(this.token(), this.no, this.fail);
  }

  end(): void {
    this.space();
    if (this.i !== this.s.length) this.fail(this.no, `unexpected ${JSON.stringify(this.s.slice(this.i))}`);
  }

  private map(): CfnValue {
    const out: Record<string, CfnValue> = {};
    this.i++;
    for (this.space(); this.s[this.i] !== '}'; this.space()) {
      const key = scalar(this.token(true), this.no, this.fail);
      this.space();
      if (this.s[this.i] !== ':') this.fail(this.no, 'expected ":" in a flow mapping');
      this.i++;
      out[String(key)] = this.value();
      this.separator('}');
    }
    this.i++;
    return out;
  }

  private list(): CfnValue {
    const out: CfnValue[] = [];
    this.i++;
    for (this.space(); this.s[this.i] !== ']'; this.space()) {
      out.push(this.value());
      this.separator(']');
    }
    this.i++;
    return out;
  }

  private separator(close: string): void {
    this.space();
    if (this.s[this.i] === ',') this.i++;
    else if (this.s[this.i] !== close) this.fail(this.no, `expected "," or "${close}"`);
  }

  /** A quoted token, or a plain one up to `,` `}` `]` (and, for a key, up to `: `). */
  private token(isKey = false): string {
    const start = this.i;
    const q = this.s[this.i];
    if (q === "'" || q === '"') {
      for (this.i++; this.i < this.s.length; this.i++) {
        if (this.s[this.i] === q && !(q === "'" && this.s[this.i + 1] === "'")) break;
        if (q === "'" && this.s[this.i] === "'") this.i++;
      }
      if (this.i >= this.s.length) this.fail(this.no, 'unterminated quote');
      this.i++;
      return this.s.slice(start, this.i);
    }
    while (this.i < this.s.length && !',}]'.includes(this.s[this.i]!) && !(isKey && this.s[this.i] === ':' && /[\s]/.test(this.s[this.i + 1] ?? ' '))) this.i++;
    const text = this.s.slice(start, this.i).trim();
    if (text === '' || text.startsWith('!')) this.fail(this.no, `unsupported flow value ${JSON.stringify(text)}`);
    return text;
  }

  private space(): void {
    while (this.s[this.i] === ' ') this.i++;
  }
}
