import { isIP } from 'node:net';
import { ipBytes, networkAddress } from '../ip-address.js';
import { inRanges, parseAddressRange, type AddressRange } from '../spa-access.js';

/**
 * `from="pattern-list"` of an authorized_keys line, as sshd reads it for the client's address
 * (sshd(8) AUTHORIZED_KEYS FILE FORMAT, PATTERNS in ssh_config(5)): comma-separated addresses,
 * CIDRs and `*`/`?` wildcards over the address text, each negated by a leading `!`. A negated
 * match refuses whatever else matches; otherwise one match admits. Host names are refused at load:
 * knockgate does no reverse lookups (as sshd with its default UseDNS no), so a name could never
 * match and a `!name` would never refuse. Pure.
 */

export interface FromPattern {
  negated: boolean;
  /** A CIDR (a bare address is its /32 or /128), held as a one-range list for inRanges' cache. */
  range?: AddressRange[];
  /** A wildcard pattern over the address text, compiled once. */
  wildcard?: RegExp;
}

/** The list as written, and its parts. */
export interface FromPatterns {
  text: string;
  patterns: FromPattern[];
}

/** OpenSSH refuses a pattern longer than an IPv6 address and a `/128`; so does this. */
const MAX_PATTERN_CHARS = 46 + 3;
/** A line names a few networks; past this it is the wrong file. */
const MAX_PATTERNS = 256;
const WILDCARD_CHARS = /^[0-9a-fA-F:.*?]+$/;

/** The patterns of a `from=` value, or why they cannot be honoured. */
export function parseFromPatterns(text: string): FromPatterns | string {
  const entries = text.split(',');
  if (entries.length > MAX_PATTERNS) return `more than ${MAX_PATTERNS} patterns`;
  const patterns: FromPattern[] = [];
  for (const entry of entries) {
    const negated = entry.startsWith('!');
    const body = negated ? entry.slice(1) : entry;
    if (body === '') return 'an empty pattern';
    if (body.length > MAX_PATTERN_CHARS) return `pattern "${body.slice(0, 60)}" is longer than an address and a prefix`;
    if (/[*?]/.test(body)) {
      if (!WILDCARD_CHARS.test(body)) return `"${body}" is a host name pattern: knockgate matches addresses only (it does no reverse lookups), so give addresses, CIDRs or address wildcards`;
      patterns.push({ negated, wildcard: wildcardRegExp(body) });
      continue;
    }
    const range = parseAddressRange(body);
    if (!range) return `"${body}" is not an address or CIDR (host names are not matched: knockgate does no reverse lookups)`;
    // sshd refuses a CIDR with bits set past its prefix ("inconsistent mask length").
    if (!sameAddress(networkAddress(range.address, range.prefix), range.address)) return `"${body}" has bits set past its prefix /${range.prefix}`;
    patterns.push({ negated, range: [range] });
  }
  return { text, patterns };
}

/** Whether `address` is admitted: no negated pattern matches it and some other one does. */
export function fromPatternsAdmit(from: FromPatterns, address: string): boolean {
  // sshd compares an IPv4 client seen through an IPv4-mapped IPv6 address as IPv4.
  const src = address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (isIP(src) === 0) return false;
  let admitted = false;
  for (const p of from.patterns) {
    const matches = p.range ? inRanges(src, p.range) : p.wildcard!.test(src);
    if (matches && p.negated) return false;
    if (matches) admitted = true;
  }
  return admitted;
}

function wildcardRegExp(pattern: string): RegExp {
  const source = [...pattern.toLowerCase()].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c === '.' ? '\\.' : c)).join('');
  return new RegExp(`^${source}$`);
}

function sameAddress(a: string, b: string): boolean {
  return Buffer.compare(ipBytes(a), ipBytes(b)) === 0;
}
