import { describe, expect, it } from 'vitest';
import { ipv4Text, ipv6Text } from '../../src/core/frame-decoder.js';
import { NO_SOURCE, SourceTable } from '../../src/core/source-table.js';
import { prng } from '../fixtures/frames.js';

/**
 * The knock tracker's source pools: addresses to numbers, oldest first, within a bound, off the
 * V8 heap. Checked against a Map doing the same (insertion order is age order when entries are
 * only added and removed), and each address written back exactly as the frame decoder writes it.
 */

function randomAddress(random: () => number): string {
  const bytes = Uint8Array.from({ length: random() < 0.5 ? 4 : 16 }, () => Math.floor(random() * 256));
  // Zero runs, so `::` and the dotted IPv4 forms come up.
  if (bytes.length === 16 && random() < 0.5) bytes.fill(0, Math.floor(random() * 16), Math.floor(random() * 17));
  if (bytes.length === 16 && random() < 0.1) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0);
  return bytes.length === 4 ? ipv4Text(bytes, 0) : ipv6Text(bytes, 0);
}

function ages(table: SourceTable): string[] {
  const out: string[] = [];
  for (let entry = table.oldest(); entry !== NO_SOURCE; entry = table.newerThan(entry)) out.push(`${table.textOf(entry)}=${table.value(entry)}`);
  return out;
}

describe('a source table', () => {
  it('writes back every address as the frame decoder wrote it', () => {
    const random = prng(0x5a11);
    const fixed = ['0.0.0.0', '255.255.255.255', '10.200.0.2', '::', '::1', '::ffff:10.200.0.2', '::10.200.0.2', 'fd00:200::2', 'fd00:200:0:0:1::', '1:2:3:4:5:6:7:8', 'fe80::1:0:0:1'];
    const table = new SourceTable(20_000);
    const addresses = [...new Set([...fixed, ...Array.from({ length: 10_000 }, () => randomAddress(random))])];
    addresses.forEach((a, i) => table.add(a, i));
    expect(ages(table)).toEqual(addresses.map((a, i) => `${a}=${i}`));
    for (const [i, a] of addresses.entries()) expect(table.value(table.find(a))).toBe(i);
  });

  it('refuses text that is not an address', () => {
    const table = new SourceTable(8);
    for (const bad of ['', 'a', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1.2.3.-4', '1..2.3', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '::1.2.3', 'host.example']) {
      expect(() => table.add(bad, 0), bad).toThrow(RangeError);
    }
    expect(table.size).toBe(0);
  });

  it('agrees with a Map through 50,000 random adds, finds, removals and evictions, and refuses an add past its bound', () => {
    const random = prng(0xa9e5);
    const bound = 1_000;
    const table = new SourceTable(bound);
    const model = new Map<string, number>();
    const pool = Array.from({ length: 3_000 }, () => randomAddress(random));
    for (let i = 0; i < 50_000; i++) {
      const src = pool[Math.floor(random() * pool.length)]!;
      const roll = random();
      if (roll < 0.5) {
        if (model.has(src)) continue;
        if (model.size === bound) {
          // At the bound: the oldest goes first, as the tracker evicts.
          const oldest = table.oldest();
          expect(table.textOf(oldest)).toBe(model.keys().next().value);
          model.delete(table.textOf(oldest));
          table.remove(oldest);
        }
        table.add(src, i);
        model.set(src, i);
      } else if (roll < 0.8) {
        const entry = table.find(src);
        expect(entry === NO_SOURCE ? undefined : table.value(entry)).toBe(model.get(src));
      } else {
        expect(table.delete(src)).toBe(model.delete(src));
      }
      expect(table.size).toBe(model.size);
    }
    expect(ages(table)).toEqual([...model].map(([a, v]) => `${a}=${v}`));
    expect(() => {
      for (let n = 0; table.size < bound; n++) if (table.find(`10.201.${n >> 8}.${n & 255}`) === NO_SOURCE) table.add(`10.201.${n >> 8}.${n & 255}`, 0);
      table.add('10.200.255.255', 0);
    }).toThrow(/bound of 1000/);
  });
});
