/** Parsers for single config values, shared by the config readers; each returns the value or a message. */

import { isIP, SocketAddress } from 'node:net';
import * as v from 'valibot';
import { describeValue, everyItem, parsed, rejected, type Parsed } from './config-error.js';

/**
 * A valibot schema for one value checked by a leaf parser: valibot checks the shape, leaf parsers
 * the values. A missing key is the enclosing table's issue, so a leaf only ever sees a given value.
 */
export function leaf<T>(parse: (v: unknown) => Parsed<T>) {
  return v.pipe(
    v.unknown(),
    v.rawTransform<unknown, T>(({ dataset, addIssue, NEVER }) => {
      const r = parse(dataset.value);
      if (r.ok) return r.value;
      addIssue({ message: r.error });
      return NEVER;
    }),
  );
}

/** A leaf that may be left out. */
export function optionalLeaf<T>(parse: (v: unknown) => Parsed<T>) {
  return v.optional(leaf(parse));
}

// valibot runs a default through the schema, but a leaf's default is already a parsed value (a
// duration in ms would be read again as seconds): the key's absence travels as this marker instead.
const ABSENT = Symbol('absent');

/** A leaf that takes `fallback`, as is, when left out. */
export function leafOr<T>(parse: (v: unknown) => Parsed<T>, fallback: T) {
  return v.optional(
    leaf((x) => (x === ABSENT ? parsed(fallback) : parse(x))),
    ABSENT,
  );
}

/** What a table check lets through: not a list; a TOML date passes, and reads as a table with none of the keys. */
function isTable(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A table of known keys; any other key is refused. */
export function table<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isTable, tableExpected),
    v.strictObject(entries),
  );
}

/**
 * Tables keyed by a name the operator chooses (`[door.NAME]`). Checked as a Map, because
 * valibot's record skips keys named constructor or prototype, and those are valid door names.
 */
export function namedTables<T extends v.GenericSchema>(name: RegExp, badName: string, value: T) {
  return v.pipe(
    v.custom<Record<string, unknown>>((x) => isTable(x) && !(x instanceof Date), tableExpected),
    v.transform((o) => new Map(Object.entries(o))),
    v.map(v.pipe(v.string(), v.regex(name, badName)), value),
    v.transform((m) => Object.fromEntries(m) as Record<string, v.InferOutput<T>>),
  );
}

/** The keys a table() knows, for "unknown setting" messages. */
export function knownKeys(schema: { pipe: readonly [unknown, { entries: v.ObjectEntries }] }): string[] {
  return Object.keys(schema.pipe[1].entries);
}

function tableExpected(issue: v.BaseIssue<unknown>): string {
  return `expected a table, got ${describeValue(issue.input)}`;
}

/** Bound of every list setting (interfaces, targets, opened ports): each item is a capture handle, a filter term or an nft element per grant. */
export const MAX_LIST_ITEMS = 64;

export function stringMatching(pattern: RegExp, what: string): (v: unknown) => Parsed<string> {
  return (v) => (typeof v === 'string' && pattern.test(v) ? parsed(v) : rejected(`expected ${what}, got ${describeValue(v)}`));
}

export function oneOf<const T extends string>(choices: readonly T[]): (v: unknown) => Parsed<T> {
  return (v) =>
    typeof v === 'string' && (choices as readonly string[]).includes(v)
      ? parsed(v as T)
      : rejected(`expected one of ${choices.join(' | ')}, got ${describeValue(v)}`);
}

export function integerIn(min: number, max: number, hex = false): (v: unknown) => Parsed<number> {
  const show = (n: number) => (hex ? `0x${n.toString(16)}` : String(n));
  return (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? parsed(v)
      : rejected(`expected an integer ${show(min)} .. ${show(max)}, got ${describeValue(v)}`);
}

export function boolean(v: unknown): Parsed<boolean> {
  return typeof v === 'boolean' ? parsed(v) : rejected(`expected true or false, got ${describeValue(v)}`);
}

export function absolutePath(v: unknown): Parsed<string> {
  if (typeof v !== 'string' || v === '') return rejected(`expected an absolute path, got ${describeValue(v)}`);
  if (!v.startsWith('/')) return rejected(`"${v}" is relative; the daemon's working directory is not the config's, so give an absolute path`);
  if (v.includes('\0')) return rejected('a path cannot contain a NUL byte');
  return parsed(v);
}

/** A list of 0..MAX_LIST_ITEMS distinct items, each parsed on its own; every bad item is reported. */
export function listOf<T>(item: (v: unknown) => Parsed<T>, key: (t: T) => string, min = 0): (v: unknown) => Parsed<T[]> {
  return (v) => {
    if (!Array.isArray(v)) return rejected(`expected a list, got ${describeValue(v)}`);
    if (v.length < min) return rejected(`needs at least ${min} item${min === 1 ? '' : 's'}`);
    if (v.length > MAX_LIST_ITEMS) return rejected(`at most ${MAX_LIST_ITEMS} items, got ${v.length}`);
    const seen = new Set<string>();
    return everyItem(v, 'item', (raw) => {
      const r = item(raw);
      if (!r.ok) return r;
      const k = key(r.value);
      if (seen.has(k)) return rejected(`${k} is listed twice`);
      seen.add(k);
      return r;
    });
  };
}

/** An IP address in the canonical text form packets carry (IPv6 compressed, lower-case). */
export function ipAddress(v: unknown): Parsed<string> {
  if (typeof v !== 'string') return rejected(`expected an IP address, got ${describeValue(v)}`);
  const family = isIP(v);
  if (family === 0 || v.includes('%')) return rejected(`"${v}" is not an IPv4 or IPv6 address (without zone)`);
  return parsed(new SocketAddress({ address: v, family: family === 4 ? 'ipv4' : 'ipv6' }).address);
}
