import type { KnockDoor, KnockStep } from './door.js';
import { acceptedCounters, sequenceFor, stepCounter, type TimeSequenceSpec } from './time-sequence.js';

/** Where a door's sequence comes from. */
export type SequenceSource =
  | { kind: 'static' }
  /** Changes every step; each accepted step's sequence opens once. */
  | { kind: 'time'; spec: TimeSequenceSpec }
  /** knockd's one_time_sequences: the first unused line is the sequence; a used line is spent. */
  | { kind: 'one-time'; file: string; unused: OneTimeSequence[] };

export interface OneTimeSequence {
  /** 0-based line in the file, so the adapter can mark exactly that line used. */
  line: number;
  steps: KnockStep[];
}

export interface ScheduledDoor {
  knock: KnockDoor;
  source: SequenceSource;
}

/**
 * The steps of time-derived doors that have opened. Kept outside the schedule, by whoever makes it
 * durable: a new schedule (a reload) and a new process (a restart) read the same set, so a sniffed
 * sequence stays worthless.
 */
export interface SpentSteps {
  isSpent(door: string, counter: number): boolean;
  /** A number that changes whenever the set does, for the schedule's epoch. */
  readonly version: number;
}

/** Until when a spent step must stay spent: the moment it leaves the accepted window (current ± skew). */
export function spentUntil(spec: TimeSequenceSpec, counter: number): number {
  return (counter + spec.skewSteps + 1) * spec.stepMs;
}

/**
 * The concrete doors the knock tracker watches at a given time. Static doors pass through; a
 * time-derived door becomes one door per accepted step (current ± skew) whose sequence has not
 * opened yet; a one-time door becomes its first unused sequence. Each concrete door carries a
 * `variant` (the step counter or the line) so an open can be spent. Pure: time is passed in.
 */
export class DoorSchedule {
  constructor(
    private readonly doors: ScheduledDoor[],
    private readonly spent: SpentSteps,
  ) {}

  /** Concrete doors at `now`. */
  doorsAt(now: number): KnockDoor[] {
    return this.doors.flatMap(({ knock, source }) => {
      switch (source.kind) {
        case 'static':
          return [knock];
        case 'time': {
          return acceptedCounters(source.spec, now)
            .filter((c) => !this.spent.isSpent(knock.name, c))
            .map((c) => ({ ...knock, sequence: sequenceFor(source.spec, c), variant: c }));
        }
        case 'one-time': {
          const next = source.unused[0];
          return next ? [{ ...knock, sequence: next.steps, variant: next.line }] : [];
        }
      }
    });
  }

  /**
   * A value that changes whenever `doorsAt` would: the daemon re-reads the doors only then, so
   * knocks in progress are not disturbed every tick.
   */
  epoch(now: number): string {
    return this.doors
      .map(({ knock, source }) => {
        if (source.kind === 'time') return `${knock.name}@${stepCounter(now, source.spec.stepMs)}/${this.spent.version}`;
        if (source.kind === 'one-time') return `${knock.name}#${source.unused[0]?.line ?? 'none'}`;
        return knock.name;
      })
      .join(' ');
  }

  /**
   * Spend the one-time line that just opened; a time-derived step is spent in SpentSteps by the
   * caller (it must be durable). Returns the door's sequence source.
   */
  spend(doorName: string, variant: number): SequenceSource | undefined {
    const door = this.doors.find((d) => d.knock.name === doorName);
    if (!door) return undefined;
    const { source } = door;
    if (source.kind === 'one-time') source.unused = source.unused.filter((s) => s.line !== variant);
    return source;
  }

  /** Whether any door's sequence changes over time or use (the sensor then watches every new connection). */
  get dynamic(): boolean {
    return this.doors.some((d) => d.source.kind !== 'static');
  }
}
