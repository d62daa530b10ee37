/** Parsers for single config values, shared by the config readers; each returns the value or a message. */

import { isIP, SocketAddress } from 'node:net';
import { z } from 'zod';
import { describeValue, everyItem, parsed, rejected, type Parsed } from './config-error.js';

/** A zod schema for one value checked by a leaf parser: zod checks the shape, leaf parsers the values. */
export function leaf<T>(parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((v, ctx): T => {
    const r = v === undefined ? rejected<T>('is required here and missing') : parse(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  });
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
