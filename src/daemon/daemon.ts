import { awsChangeNeedingRestart } from '../config/aws-config.js';
import { metricsChangeNeedingRestart } from '../config/metrics-config.js';
import type { DoorConfig, GuardSettings, KnockgateConfig } from '../config/model.js';
import { grantFor } from '../core/grant-policy.js';
import { describeIdentity, grantSource } from '../core/grant.js';
import { scopedGrant } from '../core/grant-scope.js';
import { ClockWatch } from '../core/clock-watch.js';
import type { KnockDoor } from '../core/door.js';
import { DoorSchedule, spentUntil } from '../core/door-schedule.js';
import { KnockTracker, type TrackerEvent } from '../core/knock-tracker.js';
import { describeError } from '../core/knockgate-error.js';
import { TcpFlag, type KnockPacket } from '../core/packet.js';
import { watchesEnforcement, type EnforcementEvent, type EnforcementState, type Gate } from '../gates/gate.js';
import { AlertCommand } from '../guard/alert-command.js';
import { briefFinding, type FindingBrief } from '../guard/finding.js';
import type { GuardWatch } from '../guard/guard-watch.js';
import { logStats, type Logger, type LogStats } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import type { Sensor, SensorStats } from '../sensors/sensor.js';
import { monotonicNow } from '../store/clock.js';
import { MemorySpentSteps, type SpentStepStore } from '../store/spent-step-store.js';
import { doorOpening, firstConnectionPorts } from './door-ports.js';
import type { FleetMember, FleetStatus } from './fleet-member.js';
import type { GrantDesk } from './grant-desk.js';
import type { Reconfiguration } from './reconfiguration.js';
import type { SpaService, SpaStats } from './spa-service.js';

/** How often timed-out knocks and expired grants are swept, and local addresses re-read. */
const SWEEP_INTERVAL_MS = 1_000;

/** The adapters a daemon runs with; built from config by the serve command, or by a test. */
export interface DaemonParts {
  sensor: Sensor;
  /** The gate for each door kind: knockgate doors → nftables; knockd doors → their commands. */
  gateFor(door: DoorConfig): Gate;
  /** Every gate, for install/reconcile/uninstall. */
  gates(): Gate[];
  /** The owner of grants, shared with the SPA service: its bound, its live grants, its open lines. */
  desk: GrantDesk;
  /** What takes part in a reload, in order (gates, SPA doors), before the gates are re-installed. */
  reconfigurations: Reconfiguration[];
  /**
   * The capture follows the doors as they are now: at start, after a reload, and whenever a
   * one-time or time-derived sequence moves on, so the ports of the current sequence are watched.
   */
  followDoors(doors: KnockDoor[], firstConnectionPorts: number[]): void;
  /** The interfaces the sensor captures on, for the start-up line. */
  interfaces?: string[];
  /** Whether an address is one of this host's (re-read every sweep). */
  localAddresses(): Set<string>;
  /** Marks a one-time sequence used in its file (knockd's format); the grant waits for it. */
  spendOneTimeSequence(file: string, line: number): Promise<void>;
  /** Spent steps of time-derived doors, durable across reloads and restarts; in memory when absent. */
  spentSteps?: SpentStepStore;
  /** This bastion's part in a `[fleet]`: grants shared through the desk, reconciled at start. */
  fleet?: FleetMember;
  /** The SPA server, when the config has SPA doors; captured SPA packets go to it, not the tracker. */
  spa?: SpaService;
  /** The port-hijack guard for a [guard] section: made at start, or on the reload that adds the section. */
  createGuard?(settings: GuardSettings): GuardWatch;
  logger: Logger;
  /** knockgate's version, on the start-up line (what ran when, in the log alone). */
  version?: string;
  /** Where what happens is counted (the desk, SPA, gates and guard get the same); none by default. */
  outcomes?: Outcomes;
  now?: () => number;
}

/** A grant `revoke` or `flush` closed, as the control socket answers it. */
export interface RevokedGrant {
  src: string;
  door: string;
  ports: string[];
}

export interface DaemonStatus {
  config: string;
  doors: Array<{ name: string; knocks: number; opens: string }>;
  /** What the enforcement points hold now, with the door where this run made the grant. */
  grants: Array<{ gate: string; door?: string; identity?: string; src: string; port: string; expiresInMs?: number; forward?: string; member?: string }>;
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
  /** Lines the log budget left out, and the log file's write errors. */
  log?: LogStats;
  /** The fleet as its Redis holds it, when this bastion is a member. */
  fleet?: FleetStatus;
}

export class Daemon {
  private readonly tracker: KnockTracker;
  private readonly desk: GrantDesk;
  private doors = new Map<string, DoorConfig>();
  private readonly spent: SpentStepStore;
  private schedule: DoorSchedule;
  private readonly clockWatch = new ClockWatch();
  private scheduleEpoch = '';
  /** The capture's last ports, so that a time step that changes none costs nothing. */
  private captureKey: string | undefined;
  private local = new Set<string>();
  private sweepTimer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly outcomes: Outcomes;
  private guard: GuardWatch | undefined;
  /** The guard's alert command, also told when the enforcement is lost; made when first needed. */
  private alert: { settings: NonNullable<GuardSettings['alert']>; command: AlertCommand } | undefined;
  /** Gates whose lost enforcement was already alerted as not restored: one alert a loss, one when it is back. */
  private readonly unrestored = new Set<string>();
  /** What start() opened, so that stop() closes exactly that, after a start that failed half-way too. */
  private readonly opened = { gates: [] as Gate[], sensor: false, guard: false, fleet: false };
  /** Handed to the tracker with every packet; one function for the daemon's life, not one per packet. */
  private readonly isLocal = (dst: string): boolean => this.local.has(dst);

  constructor(
    private config: KnockgateConfig,
    private readonly parts: DaemonParts,
  ) {
    this.now = parts.now ?? Date.now;
    this.log = parts.logger;
    this.desk = parts.desk;
    this.outcomes = parts.outcomes ?? NO_OUTCOMES;
    this.spent = parts.spentSteps ?? new MemorySpentSteps(this.now);
    this.schedule = new DoorSchedule([], this.spent);
    this.tracker = new KnockTracker([], config.daemon.maxTrackedSources);
    this.applyDoors(config);
    this.followDoors(this.schedule.doorsAt(this.now()));
    this.guard = config.guard && parts.createGuard?.(config.guard);
  }

  /** All or nothing: if it throws, stop() closes what it had opened. */
  async start(): Promise<void> {
    for (const gate of this.parts.gates()) {
      // Counted before install: a failed install may already have started the gate's nft.
      this.opened.gates.push(gate);
      await gate.install();
    }
    // No ledger outlives this process yet: each gate reports what it still holds.
    await this.desk.reconcile([], this.now());
    // Before the sensor: the fleet's live grants are enforced here before this member takes knocks.
    this.opened.fleet = true;
    await this.parts.fleet?.start();
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
      { config: this.config.source.file, ...(this.parts.version !== undefined && { version: this.parts.version }), doors: [...this.doors.keys()], live_grants: this.desk.size, outcome: 'started' },
      this.knockdMode ? `starting up, listening on ${this.parts.interfaces?.join(', ') ?? 'the capture interfaces'}` : `knockgate started: ${this.doors.size} door(s), ${this.desk.size} live grant(s) kept`,
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
        this.log.error({ outcome: 'stop-failed', part: what, err: describeError(err) }, `${what} did not stop cleanly`);
      }
    };
    if (this.opened.guard) await closing('guard', () => this.guard?.stop());
    if (this.opened.sensor) await closing('sensor', () => this.parts.sensor.stop());
    // Its replay store was opened with the parts, before start.
    await closing('SPA', () => this.parts.spa?.stop());
    if (this.opened.fleet) await closing('fleet', () => this.parts.fleet?.stop());
    for (const gate of this.opened.gates.splice(0)) await closing(`${gate.name} gate`, () => gate.uninstall());
    this.opened.sensor = this.opened.guard = this.opened.fleet = false;
    await closing('spent steps', () => this.spent.close());
    this.desk.clear();
    this.log.info({ outcome: 'stopped' }, this.knockdMode ? 'shutting down' : 'knockgate stopped');
  }

  /**
   * Swap in a new, already validated config; live grants stay, knocks in progress are dropped.
   * The one place a reload happens: every reconfigurable part takes its slice, then the gates
   * re-install (keeping their grants), then the guard follows its section. A change that needs a
   * restart is refused before anything changes.
   */
  async reload(next: KnockgateConfig): Promise<void> {
    const restart = awsChangeNeedingRestart(this.config.aws, next.aws) ?? metricsChangeNeedingRestart(this.config.metrics, next.metrics);
    if (restart !== undefined) throw new Error(restart);
    this.config = next;
    this.applyDoors(next);
    for (const part of this.parts.reconfigurations) await part.apply(next);
    // After the SPA doors: the capture watches the SPA port the service keeps.
    this.captureKey = undefined;
    this.followDoors(this.schedule.doorsAt(this.now()));
    for (const gate of this.parts.gates()) await gate.install();
    await this.reloadGuard(next);
    this.log.info({ config: next.source.file, doors: [...this.doors.keys()], outcome: 'reloaded' }, this.knockdMode ? `re-reading config file: ${next.source.file}` : 'configuration reloaded');
  }

  /** Closes live grants now (`knockgate revoke`, `flush`): what was closed, for the operator. */
  async revoke(match: { src?: string; door?: string }): Promise<RevokedGrant[]> {
    return (await this.desk.revoke(match)).map((g) => ({ src: grantSource(g), door: g.door, ports: g.ports.map((p) => `${p.port}/${p.proto}`) }));
  }

  /** The fleet as its Redis holds it (`knockgate status --fleet`); undefined when this bastion is no member. */
  async fleetStatus(): Promise<FleetStatus | undefined> {
    return this.parts.fleet?.status();
  }

  async status(): Promise<DaemonStatus> {
    const grants: DaemonStatus['grants'] = [];
    for (const gate of this.parts.gates()) {
      for (const entry of await gate.list()) {
        const holder = this.desk.holderOf(gate.name, entry);
        const door = holder?.grant.door;
        const member = holder?.member ?? this.parts.fleet?.member;
        grants.push({
          gate: gate.name,
          ...(door !== undefined ? { door } : {}),
          ...(member !== undefined && { member }),
          ...(holder?.grant.identity && { identity: describeIdentity(holder.grant.identity) }),
          src: grantSource(entry),
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
      grantsRefused: this.desk.stats().refused,
      gateCounters: Object.fromEntries(this.parts.gates().flatMap((g) => (g.counters ? [[g.name, g.counters()]] : []))),
      ...(this.parts.spa && { spa: this.parts.spa.stats() }),
      ...(this.guard && { guard: { findings: this.guard.findings().map(briefFinding) } }),
      ...this.enforcementStatus(),
      log: logStats(this.log),
      ...(this.parts.fleet && { fleet: await this.parts.fleet.status() }),
    };
  }

  private enforcementStatus(): Pick<DaemonStatus, 'degraded' | 'enforcement'> {
    const enforcement = this.parts.gates().flatMap((g) => (watchesEnforcement(g) ? [{ gate: g.name, ...g.enforcementState() }] : []));
    return { degraded: enforcement.some((e) => e.state === 'lost'), enforcement };
  }

  /** A gate found its rules gone or changed: say so loudly, count it, and tell the alert command. */
  private onEnforcement(e: EnforcementEvent): void {
    const summary =
      e.kind === 'restored'
        ? `${e.gate} enforcement was lost (${e.what}) and is restored with ${e.grants} live grant(s), ${e.windowMs} ms after it was noticed`
        : `${e.gate} enforcement is lost (${e.what}) and not restored: ${e.error}; protected ports may be open to everyone until it is`;
    const outcome = e.kind === 'restored' ? 'enforcement-restored' : 'enforcement-lost';
    this.outcomes.count(outcome, { gate: e.gate });
    this.log.error(
      e.kind === 'restored' ? { gate: e.gate, what: e.what, outcome, window_ms: e.windowMs, grants: e.grants } : { gate: e.gate, what: e.what, outcome, err: e.error },
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
    if (packet.proto === 'tcp' && (packet.tcpFlags & (TcpFlag.syn | TcpFlag.ack)) === TcpFlag.syn && this.isLocal(packet.dst)) this.desk.firstConnection(packet.src, packet.dstPort);
    for (const event of this.tracker.observe(packet, this.isLocal)) this.report(event);
  }

  /** A flood makes a stage and a reset line per spoofed packet, mostly at a level that is off: build a line only when it is written. */
  private report(event: TrackerEvent): void {
    switch (event.kind) {
      case 'stage': {
        this.outcomes.count('stage', { door: event.door });
        const level = this.progressLevel(event.door, false);
        if (!this.log.isLevelEnabled(level)) return;
        this.log[level]({ door: event.door, src: event.src, stage: event.stage, stages: event.of, outcome: 'stage' }, `${event.src}: ${event.door}: Stage ${event.stage}`);
        return;
      }
      case 'reset': {
        this.outcomes.count('reset', { door: event.door, reason: event.reason }, event.src);
        // A wrong knock is a refusal: at info, bounded by the log budget (its own kind,
        // `reset:wrong-knock`). knockd says nothing when one ends an attempt, so a knockd.conf's stays at debug.
        const level = event.reason === 'wrong-knock' ? (this.knockdMode ? 'debug' : 'info') : this.progressLevel(event.door, event.stage > 1);
        if (!this.log.isLevelEnabled(level)) return;
        this.log[level](
          { door: event.door, src: event.src, stage: event.stage, outcome: 'reset', reason: event.reason },
          `${event.src}: ${event.door}: ${event.reason === 'timeout' ? 'sequence timeout' : 'wrong knock'} (stage ${event.stage})`,
        );
        return;
      }
      case 'open':
        // knockd says OPEN SESAME when the sequence is complete, before its command runs.
        if (this.knockdMode) this.log.info({ door: event.door, src: event.src, stage: event.stage, outcome: 'open' }, `${event.src}: ${event.door}: OPEN SESAME`);
        if (event.variant === undefined) this.open(event.door, event.src, event.family, event.time, event.stage);
        else this.openSpent(event.door, event.variant, event.src, event.family, event.time, event.stage);
    }
  }

  /**
   * knockd logs every stage, and doors read from a knockd.conf do too. knockgate's own doors log
   * stages, and the timeout of an attempt that never got past its first knock, at debug: a
   * random-source flood makes one of each per spoofed packet, and at info they cost the hot path
   * a write each and drown the log. Opens, and timeouts past the first knock, stay at info.
   */
  private progressLevel(doorName: string, pastFirstKnock: boolean): 'info' | 'debug' {
    return pastFirstKnock || this.doors.get(doorName)?.action.kind === 'knockd-command' ? 'info' : 'debug';
  }

  /**
   * A time-derived or one-time sequence opens once: it is spent before the grant, durably (the
   * step in the spent-step journal, the one-time line marked in its file), so neither a reload nor
   * a restart can make it valid again. If it cannot be made durable, the door stays closed.
   */
  private openSpent(doorName: string, variant: number, src: string, family: 4 | 6, knockTime: number, stage: number): void {
    const now = this.now();
    const source = this.schedule.spend(doorName, variant);
    let durable: Promise<void>;
    if (source?.kind === 'time') durable = this.spent.spend(doorName, variant, spentUntil(source.spec, variant), now);
    else if (source?.kind === 'one-time') durable = this.parts.spendOneTimeSequence(source.file, variant);
    else return this.open(doorName, src, family, knockTime, stage);
    this.refreshSchedule(now, true);
    durable.then(
      () => this.open(doorName, src, family, knockTime, stage),
      (err: unknown) => {
        this.outcomes.count('refused', { door: doorName, reason: 'sequence-not-marked' }, src);
        this.log.error({ door: doorName, src, outcome: 'refused', reason: 'sequence not marked spent', err: describeError(err) }, `${src}: ${doorName}: cannot mark the sequence used; not opening`);
      },
    );
    if (source.kind === 'one-time' && source.unused.length === 0) {
      this.outcomes.count('exhausted', { door: doorName });
      const msg = this.knockdMode ? `no more sequences left in the one time sequences file for door ${doorName} --> disabling the door` : `${doorName}: no one-time sequence left; the door is closed until the file gets new lines`;
      this.log.warn({ door: doorName, outcome: 'exhausted' }, msg);
    }
  }

  /** `stage`: the knock that completed the sequence (its length), logged on the open line. */
  private open(doorName: string, src: string, family: 4 | 6, knockTime: number, stage: number): void {
    const door = this.doors.get(doorName);
    if (!door) return;
    const grant = scopedGrant(grantFor(doorOpening(door), src, family, this.now()), door.action.kind === 'gate' ? door.action.scope : undefined);
    void this.desk.open({ grant, gate: this.parts.gateFor(door), askedAt: knockTime, via: this.knockdMode ? 'knockd' : 'knock', fields: { stage, ...(grant.src !== src && { from: src }) } }).then((result) => {
      if (result.outcome === 'refused') {
        this.log.warn({ door: doorName, src, outcome: 'refused', reason: 'too many grants in flight' }, `${src}: ${doorName}: open refused, gate saturated`);
      } else if (result.outcome === 'gate-error') {
        this.log.error({ door: doorName, src, outcome: 'gate-error', err: describeError(result.err) }, `${src}: ${doorName}: gate failed to open`);
      }
    });
  }

  /** Levels read once a sweep (a second), not per packet: live grants and the captures' kernel drops. */
  private measure(): void {
    this.desk.measureLive();
    const dropped = this.parts.sensor.stats().kernelDroppedBy ?? {};
    for (const [iface, n] of Object.entries(dropped)) this.outcomes.measure('capture-dropped', n, { interface: iface });
  }

  private sweep(): void {
    const now = this.now();
    const step = this.clockWatch.observe(now, monotonicNow());
    if (step !== undefined) {
      this.outcomes.count('clock-step');
      this.log.warn(
        { outcome: 'clock-step', step_ms: step },
        `the wall clock stepped ${step > 0 ? 'ahead' : 'back'} by ${Math.round(Math.abs(step) / 1000)} s against the monotonic clock; replay digests and spent steps are kept by both clocks, so none expires early`,
      );
    }
    for (const event of this.tracker.sweep(now)) this.report(event);
    this.desk.expire(now);
    void this.desk.noteUsedOneShots();
    this.measure();
    this.refreshSchedule(now, false);
    this.local = this.parts.localAddresses();
  }

  private applyDoors(config: KnockgateConfig): void {
    this.doors = new Map(config.doors.map((d) => [d.knock.name, d]));
    // Kernel-only doors are tracked by their nftables rules; the daemon never sees their knocks.
    this.schedule = new DoorSchedule(
      config.doors.filter((d) => !d.knock.kernel).map((d) => ({ knock: d.knock, source: d.sequenceSource ?? { kind: 'static' } })),
      this.spent,
    );
    const now = this.now();
    this.scheduleEpoch = this.schedule.epoch(now);
    this.tracker.setDoors(this.schedule.doorsAt(now));
  }

  /** A new time step or a spent sequence changes the concrete doors; knocks in progress on the others go on. */
  private refreshSchedule(now: number, force: boolean): void {
    const epoch = this.schedule.epoch(now);
    if (!force && epoch === this.scheduleEpoch) return;
    this.scheduleEpoch = epoch;
    const doors = this.schedule.doorsAt(now);
    this.tracker.setDoors(doors, true);
    this.followDoors(doors);
  }

  /** Hands the capture the doors as they are now, when their ports changed; a filter that fails keeps the old one. */
  private followDoors(doors: KnockDoor[]): void {
    const first = firstConnectionPorts(this.config);
    const key = `${doors.map((d) => `${d.mode}:${d.sequence.map((s) => `${s.proto}/${s.port}`).join(',')}`).join(' ')} first:${first.join(',')}`;
    if (key === this.captureKey) return;
    try {
      this.parts.followDoors(doors, first);
      this.captureKey = key;
    } catch (err) {
      this.log.error({ outcome: 'capture-error', err: describeError(err) }, 'cannot change the capture filter; the previous one keeps running');
    }
  }

  /** Under a knockd.conf, lines knockd also writes read as knockd writes them. */
  private get knockdMode(): boolean {
    return this.config.source.kind === 'knockd';
  }
}

/** Knocks in a door's sequence, also for doors whose sequence changes (time-derived, one-time). */
function knocksOf(door: DoorConfig): number {
  const source = door.sequenceSource;
  if (source?.kind === 'time') return source.spec.knocks;
  if (source?.kind === 'one-time') return source.unused[0]?.steps.length ?? 0;
  return door.knock.sequence.length;
}
