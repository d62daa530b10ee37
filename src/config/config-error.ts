import { KnockgateError } from '../core/knockgate-error.js';

/** What config readers report: every problem found, each with where it is and what is wrong. */

/** At most this many problems are listed in one error: enough to fix a file in one pass, never a wall of text. */
export const MAX_REPORTED_PROBLEMS = 20;

export interface ConfigProblem {
  /** 1-based line in the file, when it can be told. */
  line?: number;
  /** Dotted path of the setting, e.g. `door.ssh.open_for`. */
  field?: string;
  message: string;
}

/** A config file that cannot be used. `problems` is never empty. */
export class ConfigError extends KnockgateError {
  override readonly name = 'ConfigError';
  readonly code = 'config.invalid';
  readonly problems: readonly ConfigProblem[];
  /** Problems found beyond MAX_REPORTED_PROBLEMS, counted but not listed. */
  readonly omitted: number;

  constructor(
    readonly file: string,
    problems: readonly ConfigProblem[],
  ) {
    const listed = problems.slice(0, MAX_REPORTED_PROBLEMS);
    const omitted = problems.length - listed.length;
    const lines = listed.map((p) => formatProblem(file, p));
    if (omitted > 0) lines.push(`${file}: … and ${omitted} more problem${omitted === 1 ? '' : 's'}`);
    super(lines.join('\n'));
    this.problems = listed;
    this.omitted = omitted;
  }

  /** Line of the first problem (the one an editor should jump to). */
  get line(): number | undefined {
    return this.problems[0]?.line;
  }

  get field(): string | undefined {
    return this.problems[0]?.field;
  }
}

function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}`;
  return p.field === undefined ? `${where}: ${p.message}` : `${where}: ${p.field}: ${p.message}`;
}

/** Result of parsing one value: the value, or what an operator should be told about it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parsed<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function rejected<T>(error: string): Parsed<T> {
  return { ok: false, error };
}

/** Bad items named in one message; a list this wrong is named in part. */
const MAX_ITEM_ERRORS = 10;

/**
 * Parses each item; the value when all are good, else one error naming every bad item
 * (`item 2: …; item 4: …`), so a list is fixed in one pass.
 */
export function everyItem<T>(items: readonly unknown[], label: string, parse: (v: unknown) => Parsed<T>): Parsed<T[]> {
  const out: T[] = [];
  const errors: string[] = [];
  for (const [i, raw] of items.entries()) {
    const r = parse(raw);
    if (r.ok) out.push(r.value);
    else errors.push(`${label} ${i + 1}: ${r.error}`);
  }
  if (errors.length === 0) return parsed(out);
  const more = errors.length > MAX_ITEM_ERRORS ? `; and ${errors.length - MAX_ITEM_ERRORS} more` : '';
  return rejected(errors.slice(0, MAX_ITEM_ERRORS).join('; ') + more);
}

/** A short description of a value of the wrong type, for messages. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name === 'TomlDate' ? 'a date' : 'a table';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
