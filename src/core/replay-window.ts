/**
 * The SPA digests a server must still refuse, each until the moment its packet's timestamp leaves
 * the accepted age window. Pure: `now` is passed in. Never forgets a live digest: when full it
 * first drops expired ones, then refuses to take more (the caller then refuses the packet), so the
 * bound can never reopen a replay window.
 */

/**
 * Digests held at once. One valid SPA packet adds one; with the default ±120 s window a digest
 * lives at most 240 s, so this bound is ~270 valid packets per second sustained, far above what a
 * bastion's operators send, at ~150 bytes each (~10 MiB).
 */
export const MAX_REPLAY_DIGESTS = 65_536;

/** How long to remember a packet: until its timestamp is outside the window (plus a second of rounding). Infinity with aging off. */
export function replayExpiry(timestampS: number, maxPacketAgeMs: number | undefined): number {
  return maxPacketAgeMs === undefined ? Number.POSITIVE_INFINITY : timestampS * 1000 + maxPacketAgeMs + 1_000;
}

export type RememberOutcome = 'added' | 'replay' | 'full';

export class ReplayWindow {
  private readonly expiries = new Map<string, number>();
  private earliest = Number.POSITIVE_INFINITY;

  constructor(readonly bound: number = MAX_REPLAY_DIGESTS) {}

  get size(): number {
    return this.expiries.size;
  }

  has(digest: string, now: number): boolean {
    const expiresAt = this.expiries.get(digest);
    return expiresAt !== undefined && expiresAt > now;
  }

  /** Remembers `digest` until `expiresAt`; an already-expired one needs no memory and is `added`. */
  remember(digest: string, expiresAt: number, now: number): RememberOutcome {
    if (this.has(digest, now)) return 'replay';
    if (expiresAt <= now) return 'added';
    if (this.expiries.size >= this.bound) this.sweep(now);
    if (this.expiries.size >= this.bound) return 'full';
    this.expiries.set(digest, expiresAt);
    this.earliest = Math.min(this.earliest, expiresAt);
    return 'added';
  }

  /** Drops expired digests; cheap when none can have expired yet. */
  sweep(now: number): void {
    if (this.earliest > now) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [digest, expiresAt] of this.expiries) {
      if (expiresAt <= now) this.expiries.delete(digest);
      else earliest = Math.min(earliest, expiresAt);
    }
    this.earliest = earliest;
  }

  entries(): IterableIterator<[string, number]> {
    return this.expiries.entries();
  }
}
