import type { KnockDoor, KnockStep } from './door.js';
import type { Family, KnockPacket } from './packet.js';

/**
 * Bound of the tracker's table: sources with a knock in progress. At ~200 bytes a source this
 * caps the table near 15 MB whatever a random-source flood sends.
 */
export const DEFAULT_MAX_TRACKED_SOURCES = 65_536;

/**
 * Share of the table reserved for sources that got past their first knock. A spoofed flood
 * fills the first-knock pool and evicts from it; a legitimate client that already knocked twice
 * sits in the reserved pool, which only a flood that knows the sequence could fill.
 */
const ADVANCED_POOL_SHARE = 0.25;
/**
 * A full pool evicts its oldest 1/1024 at once. Evicting one entry at a time walks past every
 * hole earlier deletes left at the front of V8's insertion-ordered Map: 16 µs per spoofed source
 * at the default bound, 0.5 µs in batches (measured), and most of the daemon's time in a flood.
 */
const EVICTION_BATCH_DIVISOR = 1_024;

export type TrackerEvent =
  | { kind: 'stage'; door: string; src: string; stage: number; of: number; time: number }
  | { kind: 'open'; door: string; src: string; family: Family; time: number; variant?: number }
  | { kind: 'reset'; door: string; src: string; stage: number; reason: 'wrong-knock' | 'timeout'; time: number };

interface Attempt {
  door: KnockDoor;
  /** Knocks matched so far (1 after the first). */
  stage: number;
  startedAt: number;
}

interface SourceEntry {
  src: string;
  attempts: Attempt[];
}

export interface TrackerStats {
  tracked: number;
  evicted: number;
}

/**
 * The knock state machine (knockd's, FIELD.md §1.5, plus strict doors), pure: packets in,
 * events out.
 *
 * Per source it keeps one attempt per door whose first knock it sent. A packet that is the next
 * knock advances the attempt; a TCP packet whose flags do not match the door is ignored; a copy
 * of the previous knock is ignored where the door tolerates repeats; any other packet to a knock
 * port ends the attempt and is not itself taken as a new first knock. Packets to other ports are
 * ignored by knockd-mode doors and end the attempts of strict doors. The sequence timeout runs
 * from the first knock and is checked when the source's next packet arrives and by `sweep`.
 */
export class KnockTracker {
  private doors: KnockDoor[] = [];
  private knockPorts = new Set<string>();
  private anyStrict = false;
  private readonly firstKnock = new Map<string, SourceEntry>();
  private readonly advanced = new Map<string, SourceEntry>();
  private readonly firstKnockBound: number;
  private readonly advancedBound: number;
  private evicted = 0;

  constructor(doors: KnockDoor[], readonly maxSources: number = DEFAULT_MAX_TRACKED_SOURCES) {
    if (!Number.isInteger(maxSources) || maxSources < 4) throw new RangeError(`maxSources must be an integer ≥ 4, got ${maxSources}`);
    this.advancedBound = Math.max(1, Math.floor(maxSources * ADVANCED_POOL_SHARE));
    this.firstKnockBound = maxSources - this.advancedBound;
    this.setDoors(doors);
  }

  /**
   * Replace the doors. On a config reload knocks in progress are dropped, as in knockd; when a
   * time step or a one-time sequence moves on (`keepProgress`), attempts on doors that are still
   * there carry on and only those on doors that went away end.
   */
  setDoors(doors: KnockDoor[], keepProgress = false): void {
    this.doors = doors;
    this.knockPorts = new Set(doors.flatMap((d) => d.sequence.map(stepKey)));
    this.anyStrict = doors.some((d) => d.mode === 'strict');
    if (!keepProgress) {
      this.firstKnock.clear();
      this.advanced.clear();
      return;
    }
    const byKey = new Map(doors.map((d) => [doorKey(d), d]));
    for (const pool of [this.firstKnock, this.advanced]) {
      for (const entry of [...pool.values()]) {
        entry.attempts = entry.attempts.flatMap((a) => {
          const door = byKey.get(doorKey(a.door));
          return door ? [{ ...a, door }] : [];
        });
        if (entry.attempts.length === 0) pool.delete(entry.src);
      }
    }
  }

  /**
   * Feed one packet. `isLocal` says whether a destination address is one of this host's (for
   * doors without explicit targets).
   */
  observe(packet: KnockPacket, isLocal: (dst: string) => boolean): TrackerEvent[] {
    const toKnockPort = this.knockPorts.has(stepKey({ proto: packet.proto, port: packet.dstPort }));
    if (!toKnockPort && !this.anyStrict) return [];
    const events: TrackerEvent[] = [];
    const entry = this.lookup(packet.src);
    if (!toKnockPort) {
      // Only strict doors care, and only about sources with a knock in progress.
      if (!entry) return [];
      this.expire(entry, packet.time, events);
      this.advance(entry, packet, isLocal, events, false);
      this.file(entry);
      return events;
    }
    if (entry) {
      this.expire(entry, packet.time, events);
      if (entry.attempts.length > 0) {
        this.advance(entry, packet, isLocal, events, true);
        this.file(entry);
        return events;
      }
      this.drop(entry.src);
    }
    this.begin(packet, isLocal, events);
    return events;
  }

  /** Drop attempts whose sequence timeout has passed; call periodically to bound idle memory. */
  sweep(now: number): TrackerEvent[] {
    const events: TrackerEvent[] = [];
    for (const pool of [this.firstKnock, this.advanced]) {
      for (const entry of [...pool.values()]) {
        this.expire(entry, now, events);
        if (entry.attempts.length === 0) pool.delete(entry.src);
      }
    }
    return events;
  }

  stats(): TrackerStats {
    return { tracked: this.firstKnock.size + this.advanced.size, evicted: this.evicted };
  }

  private begin(packet: KnockPacket, isLocal: (dst: string) => boolean, events: TrackerEvent[]): void {
    const attempts: Attempt[] = [];
    for (const door of this.doors) {
      const first = door.sequence[0]!;
      if (!matchesStep(first, packet) || !addressedTo(door, packet, isLocal)) continue;
      if (!flagsMatch(door, packet)) continue;
      events.push({ kind: 'stage', door: door.name, src: packet.src, stage: 1, of: door.sequence.length, time: packet.time });
      if (door.sequence.length === 1) {
        events.push(openEvent(door, packet.src, packet.family, packet.time));
      } else {
        attempts.push({ door, stage: 1, startedAt: packet.time });
      }
    }
    if (attempts.length > 0) this.file({ src: packet.src, attempts });
  }

  /** `toKnockPort`: knockd only sees ports of some door's sequence, so others never reset its doors. */
  private advance(entry: SourceEntry, packet: KnockPacket, isLocal: (dst: string) => boolean, events: TrackerEvent[], toKnockPort: boolean): void {
    const remaining: Attempt[] = [];
    for (const attempt of entry.attempts) {
      const { door } = attempt;
      if (!addressedTo(door, packet, isLocal) || !flagsMatch(door, packet) || (door.mode === 'knockd' && !toKnockPort)) {
        remaining.push(attempt);
        continue;
      }
      if (door.tolerateRepeat && matchesStep(door.sequence[attempt.stage - 1]!, packet)) {
        remaining.push(attempt);
        continue;
      }
      if (!matchesStep(door.sequence[attempt.stage]!, packet)) {
        events.push({ kind: 'reset', door: door.name, src: entry.src, stage: attempt.stage, reason: 'wrong-knock', time: packet.time });
        continue;
      }
      attempt.stage += 1;
      events.push({ kind: 'stage', door: door.name, src: entry.src, stage: attempt.stage, of: door.sequence.length, time: packet.time });
      if (attempt.stage === door.sequence.length) {
        events.push(openEvent(door, entry.src, packet.family, packet.time));
      } else {
        remaining.push(attempt);
      }
    }
    entry.attempts = remaining;
  }

  private expire(entry: SourceEntry, now: number, events: TrackerEvent[]): void {
    entry.attempts = entry.attempts.filter((attempt) => {
      if (now - attempt.startedAt < attempt.door.seqTimeoutMs) return true;
      events.push({ kind: 'reset', door: attempt.door.name, src: entry.src, stage: attempt.stage, reason: 'timeout', time: now });
      return false;
    });
  }

  private lookup(src: string): SourceEntry | undefined {
    return this.advanced.get(src) ?? this.firstKnock.get(src);
  }

  private drop(src: string): void {
    this.firstKnock.delete(src) || this.advanced.delete(src);
  }

  /** (Re)file an entry in the pool its progress puts it in, most recently used last; evict at the bound. */
  private file(entry: SourceEntry): void {
    this.drop(entry.src);
    if (entry.attempts.length === 0) return;
    const isAdvanced = entry.attempts.some((a) => a.stage > 1);
    const pool = isAdvanced ? this.advanced : this.firstKnock;
    const bound = isAdvanced ? this.advancedBound : this.firstKnockBound;
    if (pool.size >= bound) this.evictOldest(pool, Math.max(1, Math.floor(bound / EVICTION_BATCH_DIVISOR)));
    pool.set(entry.src, entry);
  }

  private evictOldest(pool: Map<string, SourceEntry>, count: number): void {
    let evicted = 0;
    for (const src of pool.keys()) {
      pool.delete(src);
      if (++evicted === count) break;
    }
    this.evicted += evicted;
  }
}

function openEvent(door: KnockDoor, src: string, family: Family, time: number): TrackerEvent {
  return { kind: 'open', door: door.name, src, family, time, ...(door.variant !== undefined ? { variant: door.variant } : {}) };
}

function doorKey(door: KnockDoor): string {
  return door.variant === undefined ? door.name : `${door.name}#${door.variant}`;
}

function stepKey(step: KnockStep): string {
  return `${step.proto}/${step.port}`;
}

function matchesStep(step: KnockStep, packet: KnockPacket): boolean {
  return step.proto === packet.proto && step.port === packet.dstPort;
}

function flagsMatch(door: KnockDoor, packet: KnockPacket): boolean {
  if (packet.proto !== 'tcp') return true;
  const { set, clear } = door.tcpFlags;
  return (packet.tcpFlags & set) === set && (packet.tcpFlags & clear) === 0;
}

function addressedTo(door: KnockDoor, packet: KnockPacket, isLocal: (dst: string) => boolean): boolean {
  return door.targets.length > 0 ? door.targets.includes(packet.dst) : isLocal(packet.dst);
}
