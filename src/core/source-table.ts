import { randomBytes } from 'node:crypto';
import { ipv6Text } from './frame-decoder.js';

/** "No entry" wherever an entry number is expected. */
export const NO_SOURCE = -1;
/** Words a key takes: the family, then the address in four 32-bit words (IPv4 in the last). */
const KEY_WORDS = 5;

/**
 * Source addresses to one number each (the tracker's first attempt slot), least recently used
 * first, in typed-array columns. A Map keyed by address strings kept each tracked source's string
 * and the Map's own tables on the heap: under a random-source flood every evicted source was
 * garbage for the old generation and each rehash a dead large object (~1.8 MB at 49,152
 * sources); here an entry is 36 bytes plus 4-8 of hash bucket, reused. The columns are allocated
 * at the bound once: zero-filled memory the kernel maps on first use, so an idle table is nearly
 * free and a flood touches only the entries it fills (growing by doubling had left each old
 * column as garbage in malloc's heap, and RSS that stayed).
 *
 * Keys are the canonical address text (what the frame decoder writes) parsed to words; `textOf`
 * writes it back the same way. The bucket hash is keyed with a secret drawn at construction, so a
 * flood cannot choose sources that all land in one chain.
 */
export class SourceTable {
  private readonly keys: Uint32Array;
  private readonly values: Int32Array;
  /** Least recently used order: a doubly linked list through the entries. */
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  /** The next entry in the same bucket, and the free list's next. */
  private readonly chain: Int32Array;
  /** Each bucket's first entry plus one: 0, what fresh memory holds, is an empty bucket. */
  private readonly buckets: Int32Array;
  private oldestEntry = NO_SOURCE;
  private newestEntry = NO_SOURCE;
  private freeHead = NO_SOURCE;
  /** Entries below this have been handed out at least once. */
  private highWater = 0;
  private count = 0;
  private readonly seed: number;
  /** The key `find`, `add` and `delete` were last given, parsed. */
  private readonly key = new Uint32Array(KEY_WORDS);
  private keyText: string | undefined;

  constructor(readonly bound: number) {
    if (!Number.isInteger(bound) || bound < 1) throw new RangeError(`bound must be a positive integer, got ${bound}`);
    this.seed = randomBytes(4).readUInt32LE(0);
    this.keys = new Uint32Array(bound * KEY_WORDS);
    this.values = new Int32Array(bound);
    this.newer = new Int32Array(bound);
    this.older = new Int32Array(bound);
    this.chain = new Int32Array(bound);
    let buckets = 1;
    while (buckets < bound) buckets *= 2;
    this.buckets = new Int32Array(buckets);
  }

  get size(): number {
    return this.count;
  }

  /** The entry of `src`, or NO_SOURCE. */
  find(src: string): number {
    this.parse(src);
    return this.lookup(this.bucketOf());
  }

  value(entry: number): number {
    return this.values[entry]!;
  }

  setValue(entry: number, value: number): void {
    this.values[entry] = value;
  }

  /** Adds `src` (not in the table) as the most recent entry; the caller keeps the size under the bound. */
  add(src: string, value: number): number {
    if (this.count >= this.bound) throw new RangeError(`the table is at its bound of ${this.bound}`);
    this.parse(src);
    const entry = this.take();
    this.keys.set(this.key, entry * KEY_WORDS);
    this.values[entry] = value;
    const bucket = this.bucketOf();
    this.chain[entry] = this.buckets[bucket]! - 1;
    this.buckets[bucket] = entry + 1;
    this.linkNewest(entry);
    this.count++;
    return entry;
  }

  /** Removes `src`'s entry, if any; returns whether there was one. */
  delete(src: string): boolean {
    const entry = this.find(src);
    if (entry === NO_SOURCE) return false;
    this.remove(entry);
    return true;
  }

  /** Removes an entry, found by `find` or while walking from `oldest`. */
  remove(entry: number): void {
    this.unchain(entry);
    this.unlink(entry);
    this.chain[entry] = this.freeHead;
    this.freeHead = entry;
    this.count--;
  }

  /** The least recently added entry, or NO_SOURCE. */
  oldest(): number {
    return this.oldestEntry;
  }

  /** The entry added after `entry`, or NO_SOURCE: read it before removing `entry`. */
  newerThan(entry: number): number {
    return this.newer[entry]!;
  }

  /** The entry's address, in the text it was added with (canonical). */
  textOf(entry: number): string {
    const k = this.keys;
    const at = entry * KEY_WORDS;
    if (k[at] === 4) return ipv4Word(k[at + 4]!);
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    for (let w = 0; w < 4; w++) view.setUint32(4 * w, k[at + 1 + w]!);
    return ipv6Text(bytes, 0);
  }

  clear(): void {
    this.buckets.fill(0);
    this.oldestEntry = this.newestEntry = this.freeHead = NO_SOURCE;
    this.highWater = this.count = 0;
  }

  private lookup(bucket: number): number {
    const k = this.keys;
    const key = this.key;
    for (let entry = this.buckets[bucket]! - 1; entry !== NO_SOURCE; entry = this.chain[entry]!) {
      const at = entry * KEY_WORDS;
      if (k[at + 4] === key[4] && k[at] === key[0] && k[at + 3] === key[3] && k[at + 2] === key[2] && k[at + 1] === key[1]) return entry;
    }
    return NO_SOURCE;
  }

  private bucketOf(): number {
    return bucketHash(this.key, 0, this.seed) & (this.buckets.length - 1);
  }

  private unchain(entry: number): void {
    const bucket = bucketHash(this.keys, entry * KEY_WORDS, this.seed) & (this.buckets.length - 1);
    let previous = NO_SOURCE;
    for (let e = this.buckets[bucket]! - 1; e !== NO_SOURCE; previous = e, e = this.chain[e]!) {
      if (e !== entry) continue;
      if (previous === NO_SOURCE) this.buckets[bucket] = this.chain[e]! + 1;
      else this.chain[previous] = this.chain[e]!;
      return;
    }
  }

  private linkNewest(entry: number): void {
    this.older[entry] = this.newestEntry;
    this.newer[entry] = NO_SOURCE;
    if (this.newestEntry !== NO_SOURCE) this.newer[this.newestEntry] = entry;
    else this.oldestEntry = entry;
    this.newestEntry = entry;
  }

  private unlink(entry: number): void {
    const before = this.older[entry]!;
    const after = this.newer[entry]!;
    if (before !== NO_SOURCE) this.newer[before] = after;
    else this.oldestEntry = after;
    if (after !== NO_SOURCE) this.older[after] = before;
    else this.newestEntry = before;
  }

  private take(): number {
    if (this.freeHead !== NO_SOURCE) {
      const entry = this.freeHead;
      this.freeHead = this.chain[entry]!;
      return entry;
    }
    return this.highWater++;
  }

  /** Parses `src` into `key`, once for a run of calls with the same text. */
  private parse(src: string): void {
    if (src === this.keyText) return;
    if (!parseAddress(src, this.key)) throw new RangeError(`not an address in canonical text: ${src}`);
    this.keyText = src;
  }
}

function ipv4Word(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}

/** A 32-bit mix (murmur3's steps) of the key at `words[at..]`, keyed with `seed`. */
function bucketHash(words: Uint32Array, at: number, seed: number): number {
  let h = seed;
  for (let i = at; i < at + KEY_WORDS; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** parseAddress's scratch: an IPv6 address's groups as written, and with the `::` filled in. */
const GROUPS = new Uint16Array(8);
const FULL_GROUPS = new Uint16Array(8);

/**
 * Writes an IPv4 dotted quad or an IPv6 address (with `::` and a dotted-quad tail) into `key`:
 * the family, then four words. False for anything else. No allocation: it runs for every packet.
 */
export function parseAddress(text: string, key: Uint32Array): boolean {
  key.fill(0);
  if (text.indexOf(':') < 0) {
    const word = dottedQuad(text, 0, text.length);
    if (word < 0) return false;
    key[0] = 4;
    key[4] = word;
    return true;
  }
  key[0] = 6;
  // Groups before `::` fill from the front, those after it from the back.
  const groups = GROUPS;
  let count = 0;
  let gap = -1;
  let i = 0;
  const end = text.length;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let j = i;
    let value = 0;
    while (j < end && j - i < 5) {
      const digit = hexDigit(text.charCodeAt(j));
      if (digit < 0) break;
      value = value * 16 + digit;
      j++;
    }
    if (j < end && text.charCodeAt(j) === 0x2e) {
      // A dotted-quad tail: the last two groups.
      const word = dottedQuad(text, i, end);
      if (word < 0 || count > 6) return false;
      groups[count++] = word >>> 16;
      groups[count++] = word & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4 || count === 8) return false;
    groups[count++] = value;
    if (j === end) {
      i = end;
      break;
    }
    if (text.charCodeAt(j) !== 0x3a) return false;
    if (j + 1 < end && text.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return false;
      gap = count;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) return false;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const full = FULL_GROUPS.fill(0);
  if (gap < 0) full.set(groups);
  else {
    full.set(groups.subarray(0, gap));
    full.set(groups.subarray(gap, count), 8 - (count - gap));
  }
  for (let w = 0; w < 4; w++) key[1 + w] = ((full[2 * w]! << 16) | full[2 * w + 1]!) >>> 0;
  return true;
}

/** The dotted quad text[from..to) as one word, or -1. */
function dottedQuad(text: string, from: number, to: number): number {
  let word = 0;
  let octets = 0;
  let i = from;
  while (octets < 4) {
    let value = 0;
    let digits = 0;
    while (i < to && digits < 4) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || value > 255) return -1;
    word = word * 256 + value;
    octets++;
    if (octets < 4) {
      if (i >= to || text.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === to ? word >>> 0 : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
