/**
 * Keys a server must still refuse (SPA digests, spent knock steps), each until its deadline.
 * Pure: the clocks are passed in. A key lives until BOTH clocks say it has expired: the wall clock
 * (the deadline derives from the packet's own timestamp) and the monotonic clock (as much real
 * time as the wall clock promised when the key was added). So a wall clock stepped forward cannot
 * drop a key early, and one stepped back keeps it as long as the window it re-opens. Never
 * forgets a live key: when full it first drops expired ones, then refuses to take more (the caller
 * then refuses the packet), so the bound can never reopen a replay window.
 */

/**
 * Keys held at once. One valid SPA packet adds one; with the default ±120 s window a digest lives
 * at most 240 s, so this bound is ~270 valid packets per second sustained, far above what a
 * bastion's operators send, at ~170 bytes each (~11 MiB).
 */
export const MAX_REPLAY_DIGESTS = 65_536;

/** How long to remember a packet: until its timestamp is outside the window (plus a second of rounding). Infinity with aging off. */
export function replayExpiry(timestampS: number, maxPacketAgeMs: number | undefined): number {
  return maxPacketAgeMs === undefined ? Number.POSITIVE_INFINITY : timestampS * 1000 + maxPacketAgeMs + 1_000;
}

export type RememberOutcome = 'added' | 'replay' | 'full';

/** When a key may go: wall-clock ms since the epoch and monotonic ms; Infinity = never. */
export interface Deadline {
  wall: number;
  mono: number;
}

export class ReplayWindow {
  private readonly deadlines = new Map<string, Deadline>();
  /** No key can have expired before both of these have passed: a cheap test before a sweep. */
  private earliestWall = Number.POSITIVE_INFINITY;
  private earliestMono = Number.POSITIVE_INFINITY;

  constructor(readonly bound: number = MAX_REPLAY_DIGESTS) {}

  get size(): number {
    return this.deadlines.size;
  }

  /** `mono` may be a clock to read: the packet path then reads it only for a key the wall clock says has expired. */
  has(key: string, now: number, mono: number | (() => number)): boolean {
    const d = this.deadlines.get(key);
    if (d === undefined) return false;
    return d.wall > now || d.mono > (typeof mono === 'function' ? mono() : mono);
  }

  /** Remembers `key` until `expiresAt` (wall) and as long again on the monotonic clock; one already expired needs no memory and is `added`. */
  remember(key: string, expiresAt: number, now: number, mono: number): RememberOutcome {
    if (this.has(key, now, mono)) return 'replay';
    if (expiresAt <= now) return 'added';
    return this.keep(key, { wall: expiresAt, mono: mono + (expiresAt - now) }, now, mono);
  }

  /** Puts back a key read from a journal with both its deadlines; `full` past the bound. */
  restore(key: string, deadline: Deadline, now: number, mono: number): RememberOutcome {
    if (!live(deadline, now, mono)) return 'added';
    const held = this.deadlines.get(key);
    if (held) {
      this.deadlines.set(key, { wall: Math.max(held.wall, deadline.wall), mono: Math.max(held.mono, deadline.mono) });
      return 'added';
    }
    return this.keep(key, deadline, now, mono);
  }

  /** Drops expired keys; cheap when none can have expired yet. */
  sweep(now: number, mono: number): void {
    if (this.earliestWall > now || this.earliestMono > mono) return;
    let wall = Number.POSITIVE_INFINITY;
    let m = Number.POSITIVE_INFINITY;
    for (const [key, d] of this.deadlines) {
      if (!live(d, now, mono)) this.deadlines.delete(key);
      else {
        wall = Math.min(wall, d.wall);
        m = Math.min(m, d.mono);
      }
    }
    this.earliestWall = wall;
    this.earliestMono = m;
  }

  entries(): IterableIterator<[string, Deadline]> {
    return this.deadlines.entries();
  }

  private keep(key: string, deadline: Deadline, now: number, mono: number): RememberOutcome {
    if (this.deadlines.size >= this.bound) this.sweep(now, mono);
    if (this.deadlines.size >= this.bound) return 'full';
    this.deadlines.set(key, deadline);
    this.earliestWall = Math.min(this.earliestWall, deadline.wall);
    this.earliestMono = Math.min(this.earliestMono, deadline.mono);
    return 'added';
  }
}

function live(d: Deadline, now: number, mono: number): boolean {
  return d.wall > now || d.mono > mono;
}
