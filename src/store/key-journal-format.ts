import type { Deadline } from '../core/replay-window.js';
import { recordChecksum } from './record-checksum.js';

/**
 * The text of a journal of expiring keys (SPA replay digests, spent knock steps): a header naming
 * what it holds and the boot it was written in, then one line per key, tab separated, the key
 * checksummed on its own and the whole line again:
 *
 *   knockgate-keys  2  <kind>  <boot id>  <sum>
 *   <key>  <key sum>  <wall deadline ms|never>  <monotonic deadline ms|never>  <sum>
 *
 * A line whose deadlines are damaged still gives a key that can be trusted (kept, with a
 * deadline that errs long); a line whose key is damaged loses a key, which the reader reports.
 * Pure: text in, keys and problems out.
 */

const MAGIC = 'knockgate-keys';
const VERSION = '2';

export function formatKeyHeader(kind: string, boot: string): string {
  const head = [MAGIC, VERSION, kind, boot].join('\t');
  return `${head}\t${recordChecksum(head)}\n`;
}

export function formatKeyLine(key: string, d: Deadline): string {
  const line = [key, recordChecksum(key), number(d.wall), number(d.mono)].join('\t');
  return `${line}\t${recordChecksum(line)}\n`;
}

function number(n: number): string {
  return Number.isFinite(n) ? String(Math.ceil(n)) : 'never';
}

function parseNumber(text: string | undefined): number | undefined {
  if (text === 'never') return Number.POSITIVE_INFINITY;
  if (text === undefined || !/^-?\d{1,16}$/.test(text)) return undefined;
  return Number(text);
}

export interface KeyJournalReading {
  /** The journal's own kind and boot id, when its header is sound. */
  header?: { kind: string; boot: string };
  /** Keys with their deadlines; `mono` is absent when the line gave none that can be trusted here (another boot, an older format). */
  keys: Array<{ key: string; wall: number; mono?: number; damagedTimes?: true }>;
  /** A last line without its newline: an append that never completed, so nothing was acted on it. */
  tornTail: boolean;
  /** What could not be recovered, one line each. */
  lost: string[];
}

export interface KeyLineOptions {
  isKey(key: string): boolean;
  /** Lines of other formats this journal may hold (fwknopd's digest.cache, version 1): the key and its wall deadline. */
  legacyLine?(fields: string[]): { key: string; wall: number } | undefined;
}

export function readKeyJournal(text: string, opts: KeyLineOptions): KeyJournalReading {
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  const out: KeyJournalReading = { keys: [], tornTail: false, lost: [] };
  let first = 0;
  const head = (lines[0] ?? '').split('\t');
  if (head[0] === MAGIC) {
    first = 1;
    if (head.length === 5 && head[1] === VERSION && recordChecksum(head.slice(0, 4).join('\t')) === head[4]) out.header = { kind: head[2]!, boot: head[3]! };
    else out.lost.push('line 1: the header is damaged');
  }
  const lastIndex = lines.length - 1;
  lines.forEach((raw, i) => {
    if (i < first) return;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const torn = i === lastIndex && !complete;
    const f = raw.split('\t');
    const keySound = f.length >= 2 && recordChecksum(f[0]!) === f[1] && opts.isKey(f[0]!);
    if (keySound) {
      const wall = parseNumber(f[2]);
      const mono = parseNumber(f[3]);
      const whole = f.length === 5 && recordChecksum(f.slice(0, 4).join('\t')) === f[4] && wall !== undefined && mono !== undefined;
      out.keys.push(whole ? { key: f[0]!, wall: wall!, mono: mono! } : { key: f[0]!, wall: Number.NaN, damagedTimes: true });
      return;
    }
    const legacy = f.length === 1 ? opts.legacyLine?.(line.split(/\s+/)) : undefined;
    if (legacy && opts.isKey(legacy.key) && !Number.isNaN(legacy.wall)) {
      out.keys.push(legacy);
      return;
    }
    if (torn) out.tornTail = true;
    else out.lost.push(`line ${i + 1}: damaged, its key cannot be read`);
  });
  return out;
}
