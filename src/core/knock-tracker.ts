import { AttemptTable, NO_ATTEMPT } from './attempt-table.js';
import type { KnockDoor, KnockStep } from './door.js';
import { portCode, type Family, type KnockPacket } from './packet.js';
import { NO_SOURCE, SourceTable } from './source-table.js';

/**
 * Bound of the tracker's table: sources with a knock in progress. A tracked source costs ~60
 * bytes, none of them on the V8 heap: its SourceTable entry (40) and a 20-byte attempt slot
 * (~130 when a Map held each source's address string, ~380 with an object per source). This caps
 * the table near 4 MB whatever a random-source flood sends.
 */
export const DEFAULT_MAX_TRACKED_SOURCES = 65_536;

/**
 * Share of the table reserved for sources that got past their first knock. A spoofed flood
 * fills the first-knock pool and evicts from it; a legitimate client that already knocked twice
 * sits in the reserved pool, which only a flood that knows the sequence could fill.
 */
const ADVANCED_POOL_SHARE = 0.25;
/** A full pool evicts its oldest 1/1024 at once, so a flood pays the eviction once per batch of new sources. */
const EVICTION_BATCH_DIVISOR = 1_024;

export type TrackerEvent =
  | { kind: 'stage'; door: string; src: string; stage: number; of: number; time: number }
  | { kind: 'open'; door: string; src: string; family: Family; time: number; stage: number; variant?: number }
  | { kind: 'reset'; door: string; src: string; stage: number; reason: 'wrong-knock' | 'timeout'; time: number };

/** A door that went away on a reload: its attempts end. */
const GONE = -1;

export interface TrackerStats {
  tracked: number;
  evicted: number;
}

/**
 * The knock state machine (knockd's, FIELD.md §1.5, plus strict doors), pure: packets in,
 * events out.
 *
 * Per source it keeps one attempt per door whose first knock it sent. knockd-mode doors see a
 * packet only when some knockd-mode door would catch it: one of that door's knock ports, sent to
 * its target (or to a local address when it has none), with TCP flags that door accepts; knockd
 * filters its capture exactly so (generate_pcap_filter), so a SYN to a port of a FIN-only door
 * neither counts for nor resets a SYN door. Strict doors see every packet the sensor reports.
 *
 * An attempt sees a packet addressed to its door's target (or to a local address). A packet that
 * is the next knock advances it; a TCP packet whose flags do not match the door is ignored; a copy
 * of the previous knock is ignored where the door tolerates repeats; any other packet ends the
 * attempt and is not itself taken as a new first knock. Only a packet that no attempt of the
 * source sees can begin attempts: so a door with a Target and a door without one are tracked side
 * by side, as knockd does. The sequence timeout runs from the first knock and is checked when the
 * source's next packet arrives and by `sweep`.
 *
 * Each pool maps a source address to the first slot of its chain of attempts in `attempts`,
 * least recently used first.
 */
export class KnockTracker {
  private doors: KnockDoor[] = [];
  private knockPorts = new Set<number>();
  /** knockd-mode doors by the portCode of each of their knocks: who could catch a packet to that port. */
  private catchers = new Map<number, number[]>();
  private anyStrict = false;
  private readonly attempts: AttemptTable;
  private readonly firstKnock: SourceTable;
  private readonly advanced: SourceTable;
  private evicted = 0;

  constructor(doors: KnockDoor[], readonly maxSources: number = DEFAULT_MAX_TRACKED_SOURCES) {
    if (!Number.isInteger(maxSources) || maxSources < 4) throw new RangeError(`maxSources must be an integer ≥ 4, got ${maxSources}`);
    // One attempt slot a source to begin with; sources knocking on several doors at once double it.
    this.attempts = new AttemptTable(maxSources);
    const advancedBound = Math.max(1, Math.floor(maxSources * ADVANCED_POOL_SHARE));
    this.advanced = new SourceTable(advancedBound);
    this.firstKnock = new SourceTable(maxSources - advancedBound);
    this.setDoors(doors);
  }

  /** Attempt slots allocated: at most one per door per tracked source, rounded up to a power of two. */
  get attemptSlots(): number {
    return this.attempts.capacity;
  }

  /**
   * Replace the doors. On a config reload knocks in progress are dropped, as in knockd; when a
   * time step or a one-time sequence moves on (`keepProgress`), attempts on doors that are still
   * there carry on and only those on doors that went away end.
   */
  setDoors(doors: KnockDoor[], keepProgress = false): void {
    const previous = this.doors;
    this.doors = doors;
    this.knockPorts = new Set(doors.flatMap((d) => d.sequence.map((step) => portCode(step.proto, step.port))));
    this.catchers = new Map();
    doors.forEach((d, index) => {
      if (d.mode !== 'knockd') return;
      for (const code of new Set(d.sequence.map((step) => portCode(step.proto, step.port)))) this.catchers.set(code, [...(this.catchers.get(code) ?? []), index]);
    });
    this.anyStrict = doors.some((d) => d.mode === 'strict');
    if (!keepProgress) {
      this.firstKnock.clear();
      this.advanced.clear();
      this.attempts.clear();
      return;
    }
    const indexByKey = new Map(doors.map((d, i) => [doorKey(d), i]));
    const renumbered = previous.map((d) => indexByKey.get(doorKey(d)) ?? GONE);
    const { attempts } = this;
    for (const pool of [this.firstKnock, this.advanced]) {
      for (let entry = pool.oldest(); entry !== NO_SOURCE; ) {
        const following = pool.newerThan(entry);
        const first = attempts.retain(pool.value(entry), (slot) => {
          const door = renumbered[attempts.door[slot]!]!;
          if (door === GONE) return false;
          attempts.door[slot] = door;
          return true;
        });
        if (first === NO_ATTEMPT) pool.remove(entry);
        else pool.setValue(entry, first);
        entry = following;
      }
    }
  }

  /**
   * Feed one packet. `isLocal` says whether a destination address is one of this host's (for
   * doors without explicit targets).
   */
  observe(packet: KnockPacket, isLocal: (dst: string) => boolean): TrackerEvent[] {
    const code = portCode(packet.proto, packet.dstPort);
    const caught = this.caught(code, packet, isLocal);
    if (!caught && !this.anyStrict) return [];
    const { src } = packet;
    const events: TrackerEvent[] = [];
    let head = this.headOf(src);
    if (head !== undefined) {
      head = this.expire(src, head, packet.time, events);
      if (head !== NO_ATTEMPT) {
        const seen = { any: false };
        head = this.advance(src, head, packet, isLocal, events, caught, seen);
        if (seen.any) {
          this.file(src, head);
          return events;
        }
      }
    }
    if (this.knockPorts.has(code)) head = this.begin(packet, isLocal, events, head ?? NO_ATTEMPT);
    this.file(src, head ?? NO_ATTEMPT);
    return events;
  }

  /** Whether a knockd-mode door would catch the packet: its knock port, its address, flags it accepts. */
  private caught(code: number, packet: KnockPacket, isLocal: (dst: string) => boolean): boolean {
    const catchers = this.catchers.get(code);
    if (catchers === undefined) return false;
    for (const index of catchers) {
      const door = this.doors[index]!;
      if (addressedTo(door, packet, isLocal) && flagsMatch(door, packet)) return true;
    }
    return false;
  }

  /** The first attempt slot of `src`'s chain, in whichever pool holds it. */
  private headOf(src: string): number | undefined {
    const advanced = this.advanced.find(src);
    if (advanced !== NO_SOURCE) return this.advanced.value(advanced);
    const first = this.firstKnock.find(src);
    return first === NO_SOURCE ? undefined : this.firstKnock.value(first);
  }

  /** Drop attempts whose sequence timeout has passed; call periodically to bound idle memory. */
  sweep(now: number): TrackerEvent[] {
    const events: TrackerEvent[] = [];
    for (const pool of [this.firstKnock, this.advanced]) {
      // A source's text is written back only when one of its attempts ends here.
      let current = NO_SOURCE;
      const textOfCurrent = () => pool.textOf(current);
      for (let entry = pool.oldest(); entry !== NO_SOURCE; ) {
        const following = pool.newerThan(entry);
        const head = pool.value(entry);
        current = entry;
        const live = this.expire(textOfCurrent, head, now, events);
        if (live === NO_ATTEMPT) pool.remove(entry);
        else if (live !== head) pool.setValue(entry, live);
        entry = following;
      }
    }
    return events;
  }

  stats(): TrackerStats {
    return { tracked: this.firstKnock.size + this.advanced.size, evicted: this.evicted };
  }

  /** Begin an attempt on every door the packet is the first knock of, after the chain at `head`; returns the chain. */
  private begin(packet: KnockPacket, isLocal: (dst: string) => boolean, events: TrackerEvent[], head: number): number {
    let last = this.attempts.last(head);
    for (let index = 0; index < this.doors.length; index++) {
      const door = this.doors[index]!;
      const first = door.sequence[0]!;
      if (!matchesStep(first, packet) || !addressedTo(door, packet, isLocal)) continue;
      if (!flagsMatch(door, packet)) continue;
      events.push({ kind: 'stage', door: door.name, src: packet.src, stage: 1, of: door.sequence.length, time: packet.time });
      if (door.sequence.length === 1) {
        events.push(openEvent(door, packet.src, packet.family, packet.time));
      } else {
        last = this.attempts.add(index, 1, packet.time, last);
        if (head === NO_ATTEMPT) head = last;
      }
    }
    return head;
  }

  /**
   * Apply a packet to each attempt of the chain at `head` that sees it; returns the chain that is
   * left, and sets `seen.any` when some attempt saw it. `caught`: whether a knockd-mode door would
   * catch the packet (knockd-mode attempts see nothing else).
   */
  private advance(src: string, head: number, packet: KnockPacket, isLocal: (dst: string) => boolean, events: TrackerEvent[], caught: boolean, seen: { any: boolean }): number {
    const { attempts } = this;
    return attempts.retain(head, (slot) => {
      const door = this.doors[attempts.door[slot]!]!;
      const stage = attempts.stage[slot]!;
      if ((door.mode === 'knockd' && !caught) || !addressedTo(door, packet, isLocal)) return true;
      seen.any = true;
      if (!flagsMatch(door, packet)) return true;
      // A retransmitted copy of the previous knock.
      if (door.tolerateRepeat && matchesStep(door.sequence[stage - 1]!, packet)) return true;
      if (!matchesStep(door.sequence[stage]!, packet)) {
        events.push({ kind: 'reset', door: door.name, src, stage, reason: 'wrong-knock', time: packet.time });
        return false;
      }
      attempts.stage[slot] = stage + 1;
      events.push({ kind: 'stage', door: door.name, src, stage: stage + 1, of: door.sequence.length, time: packet.time });
      if (stage + 1 < door.sequence.length) return true;
      events.push(openEvent(door, src, packet.family, packet.time));
      return false;
    });
  }

  /** End the attempts of the chain at `head` whose sequence timeout has passed; returns the chain that is left. */
  private expire(src: string | (() => string), head: number, now: number, events: TrackerEvent[]): number {
    const { attempts } = this;
    let text = typeof src === 'string' ? src : undefined;
    return attempts.retain(head, (slot) => {
      const door = this.doors[attempts.door[slot]!]!;
      if (now - attempts.startedAt[slot]! < door.seqTimeoutMs) return true;
      text ??= (src as () => string)();
      events.push({ kind: 'reset', door: door.name, src: text, stage: attempts.stage[slot]!, reason: 'timeout', time: now });
      return false;
    });
  }

  private drop(src: string): void {
    this.firstKnock.delete(src) || this.advanced.delete(src);
  }

  /** (Re)file a source's chain in the pool its progress puts it in, most recently used last; evict at the bound. */
  private file(src: string, head: number): void {
    this.drop(src);
    if (head === NO_ATTEMPT) return;
    const pool = this.pastFirstKnock(head) ? this.advanced : this.firstKnock;
    if (pool.size >= pool.bound) this.evictOldest(pool, Math.max(1, Math.floor(pool.bound / EVICTION_BATCH_DIVISOR)));
    pool.add(src, head);
  }

  private pastFirstKnock(head: number): boolean {
    for (let slot = head; slot !== NO_ATTEMPT; slot = this.attempts.next[slot]!) if (this.attempts.stage[slot]! > 1) return true;
    return false;
  }

  private evictOldest(pool: SourceTable, count: number): void {
    let evicted = 0;
    for (let entry = pool.oldest(); entry !== NO_SOURCE && evicted < count; entry = pool.oldest()) {
      this.attempts.removeChain(pool.value(entry));
      pool.remove(entry);
      evicted++;
    }
    this.evicted += evicted;
  }
}

function openEvent(door: KnockDoor, src: string, family: Family, time: number): TrackerEvent {
  return { kind: 'open', door: door.name, src, family, time, stage: door.sequence.length, ...(door.variant !== undefined ? { variant: door.variant } : {}) };
}

function doorKey(door: KnockDoor): string {
  return door.variant === undefined ? door.name : `${door.name}#${door.variant}`;
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
