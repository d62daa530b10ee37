import type { KnockStep } from '../core/door.js';
import type { DoorConfig } from './model.js';

/**
 * Doors whose fixed sequences collide: the same sequence twice, or one door's sequence the start
 * of another's. Knocking the longer one then opens the shorter door on the way (its ports, for
 * whoever sniffs or sends that prefix), so the operator must tell them apart. Only fixed sequences
 * are compared: time-derived and one-time sequences change and cannot be judged from the file.
 * Pure.
 */

export interface DoorOverlap {
  /** The door whose sequence is the same as, or the start of, `longer`'s. */
  shorter: string;
  longer: string;
  same: boolean;
}

export function doorOverlaps(doors: readonly DoorConfig[]): DoorOverlap[] {
  const fixed = doors.filter((d) => d.sequenceSource === undefined || d.sequenceSource.kind === 'static');
  const found: DoorOverlap[] = [];
  for (const [i, a] of fixed.entries()) {
    for (const b of fixed.slice(i + 1)) {
      const [short, long] = a.knock.sequence.length <= b.knock.sequence.length ? [a, b] : [b, a];
      if (short.knock.sequence.length > 0 && startsWith(long.knock.sequence, short.knock.sequence)) {
        found.push({ shorter: short.knock.name, longer: long.knock.name, same: short.knock.sequence.length === long.knock.sequence.length });
      }
    }
  }
  return found;
}

function startsWith(seq: readonly KnockStep[], prefix: readonly KnockStep[]): boolean {
  return prefix.every((step, i) => seq[i]?.port === step.port && seq[i]?.proto === step.proto);
}

/** The message for one overlap, naming both doors and the fix. */
export function describeOverlap(o: DoorOverlap): string {
  return o.same
    ? `doors ${o.shorter} and ${o.longer} have the same sequence: one knock would open both; give each its own sequence (or one door several ports)`
    : `the sequence of door ${o.shorter} is the start of door ${o.longer}'s: knocking ${o.longer} opens ${o.shorter} on the way; change one so neither begins the other`;
}
