/** The end of a source's chain of attempts, and "no attempt" wherever a slot number is expected. */
export const NO_ATTEMPT = -1;
/** Slots a table starts with unless told; it doubles when full. */
const INITIAL_SLOTS = 256;

/**
 * Knock attempts in progress, as typed-array columns indexed by slot: which door, how many knocks
 * matched so far, when the first one arrived, and the next attempt of the same source (a source
 * knocking on several doors at once has a short chain, in door order). A slot costs 20 bytes.
 *
 * Slots are reused through a free list threaded through `next`, so a random-source flood that
 * replaces tracked sources as fast as packets arrive allocates nothing per source: no object that
 * outlives a young-generation collection only to die in the old one. The columns double when
 * every slot is taken; the tracker bounds how many are ever live (one per door per tracked source).
 */
export class AttemptTable {
  door: Int32Array;
  stage: Int32Array;
  startedAt: Float64Array;
  next: Int32Array;
  private freeHead = NO_ATTEMPT;
  /** Slots below this have been handed out at least once; the ones above were never used. */
  private highWater = 0;

  /**
   * `slots`: the columns' first size. Zero-filled memory costs nothing until a slot is used, so
   * the tracker asks for one slot per source it may hold: a flood then fills columns it never has
   * to copy (each doubling had left the old columns as garbage in malloc's heap).
   */
  constructor(slots = INITIAL_SLOTS) {
    this.door = new Int32Array(slots);
    this.stage = new Int32Array(slots);
    this.startedAt = new Float64Array(slots);
    this.next = new Int32Array(slots);
  }

  /** Slots allocated, live or free: the table's memory is 20 bytes times this. */
  get capacity(): number {
    return this.next.length;
  }

  /** A new attempt at the end of a chain whose last slot is `after` (NO_ATTEMPT: a chain of its own). */
  add(door: number, stage: number, startedAt: number, after: number): number {
    const slot = this.take();
    this.door[slot] = door;
    this.stage[slot] = stage;
    this.startedAt[slot] = startedAt;
    this.next[slot] = NO_ATTEMPT;
    if (after !== NO_ATTEMPT) this.next[after] = slot;
    return slot;
  }

  /** The last slot of the chain at `head` (NO_ATTEMPT for no chain), where `add` appends. */
  last(head: number): number {
    let slot = head;
    if (slot === NO_ATTEMPT) return NO_ATTEMPT;
    while (this.next[slot]! !== NO_ATTEMPT) slot = this.next[slot]!;
    return slot;
  }

  /** Unlink `slot`, which follows `previous` (NO_ATTEMPT when it heads its chain); returns the slot after it. */
  remove(previous: number, slot: number): number {
    const following = this.next[slot]!;
    if (previous !== NO_ATTEMPT) this.next[previous] = following;
    this.release(slot);
    return following;
  }

  /**
   * Walk the chain at `head`, unlinking and freeing each slot `keep` says no to (`keep` may update
   * the slot's columns first); returns the chain that is left, NO_ATTEMPT when none is.
   */
  retain(head: number, keep: (slot: number) => boolean): number {
    let first = head;
    let before = NO_ATTEMPT;
    for (let slot = head; slot !== NO_ATTEMPT; ) {
      if (keep(slot)) {
        before = slot;
        slot = this.next[slot]!;
        continue;
      }
      const following = this.remove(before, slot);
      if (slot === first) first = following;
      slot = following;
    }
    return first;
  }

  /** Free every slot of the chain that starts at `head`. */
  removeChain(head: number): void {
    for (let slot = head; slot !== NO_ATTEMPT; ) {
      const following = this.next[slot]!;
      this.release(slot);
      slot = following;
    }
  }

  /** Forget every attempt; the columns keep their size. */
  clear(): void {
    this.freeHead = NO_ATTEMPT;
    this.highWater = 0;
  }

  private take(): number {
    if (this.freeHead !== NO_ATTEMPT) {
      const slot = this.freeHead;
      this.freeHead = this.next[slot]!;
      return slot;
    }
    if (this.highWater === this.next.length) this.grow();
    return this.highWater++;
  }

  private release(slot: number): void {
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
  }

  private grow(): void {
    const size = this.next.length * 2;
    this.door = copyInto(new Int32Array(size), this.door);
    this.stage = copyInto(new Int32Array(size), this.stage);
    this.startedAt = copyInto(new Float64Array(size), this.startedAt);
    this.next = copyInto(new Int32Array(size), this.next);
  }
}

function copyInto<T extends Int32Array | Float64Array>(target: T, source: T): T {
  target.set(source);
  return target;
}
