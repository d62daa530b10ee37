import type { SpentSteps } from '../core/door-schedule.js';
import type { Logger } from '../log/logger.js';
import { FileKeyJournal } from './file-key-journal.js';

/** A door name and a step counter as one journal key (no tab or newline can appear). */
function keyOf(door: string, counter: number): string {
  return `${encodeURIComponent(door)}:${counter}`;
}
const KEY = /^[A-Za-z0-9%._~!*'()-]+:-?\d{1,16}$/;

/** Spent steps of time-derived doors that must survive reloads and restarts; `spend` resolves once durable. */
export interface SpentStepStore extends SpentSteps {
  /** Marks the step spent at once (in memory), durable when the promise resolves; rejects if it cannot be made durable. */
  spend(door: string, counter: number, until: number, now: number): Promise<void>;
  close(): Promise<void>;
}

/** For tests and daemons built without a state directory: the set lives as long as the process. */
export class MemorySpentSteps implements SpentStepStore {
  private readonly until = new Map<string, number>();
  version = 0;

  constructor(private readonly now: () => number = Date.now) {}

  isSpent(door: string, counter: number): boolean {
    return (this.until.get(keyOf(door, counter)) ?? 0) > this.now();
  }

  async spend(door: string, counter: number, until: number, now: number = this.now()): Promise<void> {
    // Expired steps go first, so the set holds only steps still inside a window.
    for (const [key, end] of this.until) if (end <= now) this.until.delete(key);
    if (this.isSpent(door, counter)) throw new Error(`step ${counter} of door ${door} is already spent`);
    this.until.set(keyOf(door, counter), until);
    this.version++;
  }

  async close(): Promise<void> {}
}

/**
 * Spent steps in the state directory, one checksummed line each (FileKeyJournal), fsynced before
 * the door opens, kept by the wall clock and the monotonic one until the step leaves the window.
 */
export class FileSpentSteps implements SpentStepStore {
  version = 0;

  private constructor(
    private readonly journal: FileKeyJournal,
    private readonly now: () => number,
  ) {}

  static async open(path: string, opts: { logger?: Logger; acceptDamaged?: boolean; now?: () => number } = {}): Promise<FileSpentSteps> {
    const now = opts.now ?? Date.now;
    const journal = await FileKeyJournal.open(path, now(), {
      kind: 'spent-steps',
      what: 'spent-step journal',
      isKey: (k) => KEY.test(k),
      // A step is at most a day long: a damaged line's key stays spent that long.
      damagedLifetimeMs: 24 * 60 * 60 * 1000,
      ...(opts.logger && { logger: opts.logger }),
      ...(opts.acceptDamaged !== undefined && { acceptDamaged: opts.acceptDamaged }),
    });
    return new FileSpentSteps(journal, now);
  }

  isSpent(door: string, counter: number): boolean {
    return this.journal.has(keyOf(door, counter), this.now());
  }

  async spend(door: string, counter: number, until: number, now: number): Promise<void> {
    const written = this.journal.add(keyOf(door, counter), until, now);
    this.version++;
    const outcome = await written;
    // Either way the step stays spent and the door closed: fail closed.
    if (outcome === 'full') throw new Error(`spent-step journal ${this.journal.path} is full of live steps`);
    if (outcome === 'replay') throw new Error(`step ${counter} of door ${door} is already spent`);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
