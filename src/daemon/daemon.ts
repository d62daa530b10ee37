import type { DoorConfig, KnockgateConfig } from '../config/model.js';
import type { Grant } from '../core/grant.js';
import { grantFor } from '../core/grant-policy.js';
import { DoorSchedule } from '../core/door-schedule.js';
import { KnockTracker, type TrackerEvent } from '../core/knock-tracker.js';
import type { KnockPacket, PortSpec } from '../core/packet.js';
import { watchesEnforcement, type EnforcementEvent, type EnforcementState, type Gate } from '../gates/gate.js';
import { AlertCommand } from '../guard/alert-command.js';
import { briefFinding, type FindingBrief } from '../guard/finding.js';
import type { GuardWatch } from '../guard/guard-watch.js';
import type { GuardSettings } from '../config/guard-config.js';
import type { Logger } from '../log/logger.js';
import type { Sensor, SensorStats } from '../sensors/sensor.js';
import type { SpaService, SpaStats } from './spa-service.js';

/**
 * Grants waiting for their gate. A single-knock door hit by a flood could otherwise queue gate
 * calls without end; past this many, an open is refused and logged.
 */
export const MAX_PENDING_GRANTS = 1_024;
/**
 * Grants made by this run, remembered for status and expiry logging (the gates hold the real
 * state: nft set elements, the command gate's journal). Matches the nftables set size.
 */
export const MAX_LIVE_GRANTS = 65_536;
/** How often timed-out knocks and expired grants are swept, and local addresses re-read. */
const SWEEP_INTERVAL_MS = 1_000;

/** The adapters a daemon runs with; built from config by the serve command, or by a test. */
export interface DaemonParts {
  sensor: Sensor & { setPorts?(ports: PortSpec[], newConnections?: boolean): void };
  /** The gate for each door kind: knockgate doors → nftables; knockd doors → their commands. */
  gateFor(door: DoorConfig): Gate;
  /** Every gate, for install/reconcile/uninstall. */
  gates(): Gate[];
  /** Called on reload with the new config, before the gates are re-installed. */
  reconfigure?(config: KnockgateConfig): void;
  /** Whether an address is one of this host's (re-read every sweep). */
  localAddresses(): Set<string>;
  /** Marks a one-time sequence used in its file (knockd's format); the grant waits for it. */
  spendOneTimeSequence(file: string, line: number): Promise<void>;
  /** The SPA server, when the config has SPA doors; captured SPA packets go to it, not the tracker. */
  spa?: SpaService;
  /** The port-hijack guard for a [guard] section: made at start, or on the reload that adds the section. */
  createGuard?(settings: GuardSettings): GuardWatch;
  logger: Logger;
  now?: () => number;
}

export interface DaemonStatus {
  config: string;
  doors: Array<{ name: string; knocks: number; opens: string }>;
  /** What the enforcement points hold now, with the door where this run made the grant. */
  grants: Array<{ gate: string; door?: string; src: string; port: string; expiresInMs?: number; forward?: string }>;
  tracker: { tracked: number; evicted: number; bound: number };
  sensor: SensorStats;
  grantsRefused: number;
  /** Counters of the gates that keep them (the command gates), by gate name. */
  gateCounters: Record<string, Record<string, number>>;
  spa?: SpaStats;
  guard?: { findings: FindingBrief[] };
  /** True while a gate's rules are found missing or changed and not yet put back. */
  degraded: boolean;
  /** The enforcement watch of each gate that has one. */
  enforcement: Array<{ gate: string } & EnforcementState>;
}

export class Daemon {
  private readonly tracker: KnockTracker;
  private readonly live = new Map<string, Grant>();
  private doors = new Map<string, DoorConfig>();
  private schedule = new DoorSchedule([]);
  private scheduleEpoch = '';
  private local = new Set<string>();
  private pending = 0;
  private refused = 0;
  private sweepTimer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly log: Logger;
  private guard: GuardWatch | undefined;
  /** The guard's alert command, also told when the enforcement is lost; made when first needed. */
  private alert: { settings: NonNullable<GuardSettings['alert']>; command: AlertCommand } | undefined;
  /** Gates whose lost enforcement was already alerted as not restored: one alert a loss, one when it is back. */
  private readonly unrestored = new Set<string>();
  /** What start() opened, so that stop() closes exactly that, after a start that failed half-way too. */
  private readonly opened = { gates: [] as Gate[], sensor: false, guard: false };
  /** Handed to the tracker with every packet; one function for the daemon's life, not one per packet. */
  private readonly isLocal = (dst: string): boolean => this.local.has(dst);

  constructor(
    private config: KnockgateConfig,
    private readonly parts: DaemonParts,
  ) {
    this.now = parts.now ?? Date.now;
    this.log = parts.logger;
    this.tracker = new KnockTracker([], config.daemon.maxTrackedSources);
    this.applyDoors(config);
    this.guard = config.guard && parts.createGuard?.(config.guard);
  }

  /** All or nothing: if it throws, stop() closes what it had opened. */
  async start(): Promise<void> {
    for (const gate of this.parts.gates()) {
      // Counted before install: a failed install may already have started the gate's nft.
      this.opened.gates.push(gate);
      await gate.install();
      for (const grant of await gate.reconcile([], this.now())) this.live.set(grant.id, grant);
    }
    this.local = this.parts.localAddresses();
    await this.parts.sensor.start((packet) => this.onPacket(packet));
    this.opened.sensor = true;
    await this.parts.spa?.start();
    this.opened.guard = true;
    await this.guard?.start();
    for (const gate of this.parts.gates()) if (watchesEnforcement(gate)) gate.watchEnforcement((e) => this.onEnforcement(e));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.log.info(
      { config: this.config.source.file, doors: [...this.doors.keys()], live_grants: this.live.size, outcome: 'started' },
      `knockgate started: ${this.doors.size} door(s), ${this.live.size} live grant(s) kept`,
    );
  }

  /**
   * Clean stop: sensors first (no new grants), then gates as configured (close / keep / remove).
   * Also after a failed start: only what start() opened is closed, and one part that fails to
   * close does not keep the others open.
   */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    const closing = async (what: string, close: () => Promise<void> | undefined) => {
      try {
        await close();
      } catch (err) {
        this.log.error({ outcome: 'stop-failed', part: what, err: describe(err) }, `${what} did not stop cleanly`);
      }
    };
    if (this.opened.guard) await closing('guard', () => this.guard?.stop());
    if (this.opened.sensor) await closing('sensor', () => this.parts.sensor.stop());
    // Its replay store was opened with the parts, before start.
    await closing('SPA', () => this.parts.spa?.stop());
    for (const gate of this.opened.gates.splice(0)) await closing(`${gate.name} gate`, () => gate.uninstall());
    this.opened.sensor = this.opened.guard = false;
    this.live.clear();
    this.log.info({ outcome: 'stopped' }, 'knockgate stopped');
  }

  /** Swap in a new, already validated config; live grants stay, knocks in progress are dropped. */
  async reload(next: KnockgateConfig): Promise<void> {
    this.config = next;
    this.applyDoors(next);
    this.parts.reconfigure?.(next);
    for (const gate of this.parts.gates()) await gate.install();
    this.parts.spa?.reconfigure(next.spa);
    await this.reloadGuard(next);
    this.parts.sensor.setPorts?.([...knockPorts(next.doors), ...(this.parts.spa?.capturePorts() ?? [])], hasStrictDoor(next.doors));
    this.log.info({ config: next.source.file, doors: [...this.doors.keys()], outcome: 'reloaded' }, 'configuration reloaded');
  }

  async status(): Promise<DaemonStatus> {
    const doorOf = new Map([...this.live.values()].map((g) => [g.src, g.door]));
    const grants: DaemonStatus['grants'] = [];
    for (const gate of this.parts.gates()) {
      for (const entry of await gate.list()) {
        const door = doorOf.get(entry.src);
        grants.push({
          gate: gate.name,
          ...(door !== undefined ? { door } : {}),
          src: entry.src,
          port: entry.port ? `${entry.port}/${entry.proto}` : entry.proto,
          ...(entry.expiresInMs !== undefined ? { expiresInMs: entry.expiresInMs } : {}),
          ...(entry.forward && { forward: `${entry.forward.host}:${entry.forward.port}` }),
        });
      }
    }
    return {
      config: this.config.source.file,
      doors: [...this.doors.values()].map((d) => ({
        name: d.knock.name,
        knocks: knocksOf(d),
        opens: d.action.kind === 'gate' ? d.action.open.map((p) => `${p.port}/${p.proto}`).join(',') : 'knockd commands',
      })),
      grants,
      tracker: { ...this.tracker.stats(), bound: this.tracker.maxSources },
      sensor: this.parts.sensor.stats(),
      grantsRefused: this.refused,
      gateCounters: Object.fromEntries(this.parts.gates().flatMap((g) => (g.counters ? [[g.name, g.counters()]] : []))),
      ...(this.parts.spa && { spa: this.parts.spa.stats() }),
      ...(this.guard && { guard: { findings: this.guard.findings().map(briefFinding) } }),
      ...this.enforcementStatus(),
    };
  }

  private enforcementStatus(): Pick<DaemonStatus, 'degraded' | 'enforcement'> {
    const enforcement = this.parts.gates().flatMap((g) => (watchesEnforcement(g) ? [{ gate: g.name, ...g.enforcementState() }] : []));
    return { degraded: enforcement.some((e) => e.state === 'lost'), enforcement };
  }

  /** A gate found its rules gone or changed: say so loudly, and through the alert command. */
  private onEnforcement(e: EnforcementEvent): void {
    const summary =
      e.kind === 'restored'
        ? `${e.gate} enforcement was lost (${e.what}) and is restored with ${e.grants} live grant(s), ${e.windowMs} ms after it was noticed`
        : `${e.gate} enforcement is lost (${e.what}) and not restored: ${e.error}; protected ports may be open to everyone until it is`;
    this.log.error(
      e.kind === 'restored'
        ? { gate: e.gate, what: e.what, outcome: 'enforcement-restored', window_ms: e.windowMs, grants: e.grants }
        : { gate: e.gate, what: e.what, outcome: 'enforcement-lost', err: e.error },
      summary,
    );
    const alerted = this.unrestored.has(e.gate);
    if (e.kind === 'restored') this.unrestored.delete(e.gate);
    else if (alerted) return;
    else this.unrestored.add(e.gate);
    const settings = this.config.guard?.alert;
    if (!settings) return;
    if (this.alert?.settings !== settings) this.alert = { settings, command: new AlertCommand(settings.argv, settings.timeoutMs, this.log) };
    void this.alert.command.sendEvent({ change: alerted ? 'cleared' : 'appeared', kind: 'enforcement-lost', summary, json: JSON.stringify(e) });
  }

  /** A [guard] section added on reload starts the watch; one removed stops it and its enforcement. */
  private async reloadGuard(next: KnockgateConfig): Promise<void> {
    if (next.guard && this.guard) return this.guard.reconfigure(next.guard);
    if (next.guard) {
      const guard = this.parts.createGuard?.(next.guard);
      await guard?.start();
      this.guard = guard;
    } else if (this.guard) {
      const guard = this.guard;
      this.guard = undefined;
      await guard.stopAndRemoveEnforcement();
      this.log.info({ outcome: 'guard-stopped' }, 'guard stopped: the [guard] section was removed');
    }
  }

  /** Hot path: one captured packet. Synchronous up to the gate call. */
  onPacket(packet: KnockPacket): void {
    if (this.parts.spa?.handles(packet)) return this.parts.spa.onPacket(packet);
    for (const event of this.tracker.observe(packet, this.isLocal)) this.report(event);
  }

  /** A flood makes a stage and a reset line per spoofed packet, mostly at a level that is off: build a line only when it is written. */
  private report(event: TrackerEvent): void {
    switch (event.kind) {
      case 'stage': {
        const level = this.progressLevel(event.door, false);
        if (!this.log.isLevelEnabled(level)) return;
        this.log[level]({ door: event.door, src: event.src, stage: `${event.stage}/${event.of}`, outcome: 'stage' }, `${event.src}: ${event.door}: Stage ${event.stage}`);
        return;
      }
      case 'reset': {
        const level = this.progressLevel(event.door, event.stage > 1);
        if (!this.log.isLevelEnabled(level)) return;
        this.log[level](
          { door: event.door, src: event.src, stage: event.stage, outcome: 'reset', reason: event.reason },
          `${event.src}: ${event.door}: ${event.reason === 'timeout' ? 'sequence timeout' : 'wrong knock'} (stage ${event.stage})`,
        );
        return;
      }
      case 'open':
        if (event.variant === undefined) this.open(event.door, event.src, event.family, event.time);
        else this.openSpent(event.door, event.variant, event.src, event.family, event.time);
    }
  }

  /**
   * knockd logs every stage, and doors read from a knockd.conf do too. knockgate's own doors log
   * stages, and the end of an attempt that never got past its first knock, at debug: a
   * random-source flood makes one of each per spoofed packet, and at info they cost the hot path
   * a write each and drown the log. Opens, and resets past the first knock, stay at info.
   */
  private progressLevel(doorName: string, pastFirstKnock: boolean): 'info' | 'debug' {
    return pastFirstKnock || this.doors.get(doorName)?.action.kind === 'knockd-command' ? 'info' : 'debug';
  }

  /**
   * A time-derived or one-time sequence opens once: it is spent before the grant, and a one-time
   * line is marked in its file first, so a restart cannot make it valid again. If the file cannot
   * be marked, the door stays closed.
   */
  private openSpent(doorName: string, variant: number, src: string, family: 4 | 6, knockTime: number): void {
    const now = this.now();
    const kind = this.schedule.spend(doorName, variant, now);
    this.refreshSchedule(now, true);
    const source = this.doors.get(doorName)?.sequenceSource;
    if (kind !== 'one-time' || source?.kind !== 'one-time') {
      this.open(doorName, src, family, knockTime);
      return;
    }
    this.parts.spendOneTimeSequence(source.file, variant).then(
      () => this.open(doorName, src, family, knockTime),
      (err: unknown) =>
        this.log.error({ door: doorName, src, outcome: 'refused', reason: 'one-time sequence not marked', err: describe(err) }, `${src}: ${doorName}: cannot mark the one-time sequence used; not opening`),
    );
    if (source.unused.length === 0) this.log.warn({ door: doorName, outcome: 'exhausted' }, `${doorName}: no one-time sequence left; the door is closed until the file gets new lines`);
  }

  private open(doorName: string, src: string, family: 4 | 6, knockTime: number): void {
    const door = this.doors.get(doorName);
    if (!door) return;
    if (this.pending >= MAX_PENDING_GRANTS || (this.live.size >= MAX_LIVE_GRANTS && !this.live.has(`${doorName}|${src}`))) {
      this.refused += 1;
      this.log.warn({ door: doorName, src, outcome: 'refused', reason: 'too many grants in flight' }, `${src}: ${doorName}: open refused, gate saturated`);
      return;
    }
    const grant = grantFor(door, src, family, this.now());
    this.pending += 1;
    this.parts
      .gateFor(door)
      .grant(grant)
      .then(() => {
        this.live.set(grant.id, grant);
        this.log.info(
          {
            door: doorName,
            src,
            stage: 'open',
            outcome: 'open',
            ports: grant.ports.map((p) => `${p.port}/${p.proto}`),
            open_for_s: (grant.expiresAt - grant.grantedAt) / 1000,
            latency_ms: Math.round(Math.max(0, this.now() - knockTime) * 1000) / 1000,
          },
          `${src}: ${doorName}: OPEN SESAME`,
        );
      })
      .catch((err: unknown) => {
        this.log.error({ door: doorName, src, outcome: 'gate-error', err: describe(err) }, `${src}: ${doorName}: gate failed to open`);
      })
      .finally(() => {
        this.pending -= 1;
      });
  }

  private sweep(): void {
    const now = this.now();
    for (const event of this.tracker.sweep(now)) this.report(event);
    for (const grant of this.live.values()) {
      if (grant.expiresAt > now) continue;
      this.live.delete(grant.id);
      this.log.info({ door: grant.door, src: grant.src, outcome: 'expired' }, `${grant.src}: ${grant.door}: grant expired`);
    }
    this.refreshSchedule(now, false);
    this.local = this.parts.localAddresses();
  }

  private applyDoors(config: KnockgateConfig): void {
    this.doors = new Map(config.doors.map((d) => [d.knock.name, d]));
    // Kernel-only doors are tracked by their nftables rules; the daemon never sees their knocks.
    this.schedule = new DoorSchedule(config.doors.filter((d) => !d.knock.kernel).map((d) => ({ knock: d.knock, source: d.sequenceSource ?? { kind: 'static' } })));
    const now = this.now();
    this.scheduleEpoch = this.schedule.epoch(now);
    this.tracker.setDoors(this.schedule.doorsAt(now));
  }

  /** A new time step or a spent sequence changes the concrete doors; knocks in progress on the others go on. */
  private refreshSchedule(now: number, force: boolean): void {
    const epoch = this.schedule.epoch(now);
    if (!force && epoch === this.scheduleEpoch) return;
    this.scheduleEpoch = epoch;
    this.tracker.setDoors(this.schedule.doorsAt(now), true);
  }
}

/**
 * Strict doors need the sensor to report every new connection, not only knocks; so do doors whose
 * sequence changes (time-derived, one-time), so that no capture filter has to follow them.
 */
export function hasStrictDoor(doors: DoorConfig[]): boolean {
  return doors.some((d) => !d.knock.kernel && (d.knock.mode === 'strict' || (d.sequenceSource !== undefined && d.sequenceSource.kind !== 'static')));
}

/** Knocks in a door's sequence, also for doors whose sequence changes (time-derived, one-time). */
function knocksOf(door: DoorConfig): number {
  const source = door.sequenceSource;
  if (source?.kind === 'time') return source.spec.knocks;
  if (source?.kind === 'one-time') return source.unused[0]?.steps.length ?? 0;
  return door.knock.sequence.length;
}

/** The ports the sensor must watch: every knock of every door the daemon tracks (not kernel-only ones). */
export function knockPorts(doors: DoorConfig[]): PortSpec[] {
  const seen = new Map<string, PortSpec>();
  for (const d of doors) if (!d.knock.kernel) for (const s of d.knock.sequence) seen.set(`${s.proto}/${s.port}`, { proto: s.proto, port: s.port });
  return [...seen.values()];
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
