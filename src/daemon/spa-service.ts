import type { SpaConfig, SpaDoorConfig } from '../config/model.js';
import { describeError } from '../core/knockgate-error.js';
import type { KnockPacket, PortSpec } from '../core/packet.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import { replayExpiry, type RememberOutcome } from '../core/replay-window.js';
import { matchSpaDoor, screenSpaDoors, type SpaDoorCandidate } from '../core/spa-door-match.js';
import { scopedGrant } from '../core/grant-scope.js';
import { grantForSpa, originAllowed, type SpaGrantDecision, type SpaPacketOrigin, type SpaRefusal } from '../core/spa-access.js';
import { BAD_HMAC, MAX_PACKET_CHARS, MIN_PACKET_CHARS, SpaCodec, SpaError, spaReplayDigest, undecodedReason, type HmacScreen, type HmacScreenFactory } from '../core/spa/index.js';
import { CommandPool } from '../exec/command-pool.js';
import type { Gate } from '../gates/gate.js';
import { runCommand } from '../exec/shell-command.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import type { Sensor } from '../sensors/sensor.js';
import type { SpaCaptureScreen } from '../sensors/spa-capture-screen.js';
import type { ReplayStore } from '../store/replay-store.js';
import type { GrantDesk } from './grant-desk.js';
import { describeIdentity, type Identity } from '../core/grant.js';
import type { SpaDecodedPacket } from '../core/spa-door-match.js';
import { decideSshSpaPacket, isSshSpaPacket, type DoorPrivateKey, type SshKeyRing, type SshSpaDoorCandidate, type SshSpaRefusal } from '../core/sshspa/index.js';
import type { SshKeyDoorFiles } from '../config/model.js';
import { sshKeyDoorsById } from '../store/ssh-key-ring.js';

/**
 * Valid packets between their decode and their gate's answer. An honest operator sends one; past
 * this, a flood of valid packets (stolen keys) is refused rather than queued without end.
 */
export const MAX_PENDING_SPA = 256;
/** Refusal log lines per second; the rest are counted (status) and summed up in one line each second. */
export const MAX_REFUSAL_LOGS_PER_SECOND = 50;
/** Command messages (ENABLE_CMD_EXEC) run one at a time, a few waiting, each for at most this long. */
export const COMMAND_TIMEOUT_MS = 30_000;
export const MAX_RUNNING_COMMANDS = 1;
export const MAX_QUEUED_COMMANDS = 4;
/** Characters of a command's stdout and stderr each that reach the log line (the rest is counted). */
export const MAX_COMMAND_OUTPUT_LOG_CHARS = 2_048;

/** Why a packet was refused: the policy's reasons, plus what happens before and after it. */
export type SpaRefusalKind =
  | 'malformed'
  | 'bad-hmac'
  | 'decrypt-failed'
  | 'replay'
  | SpaRefusal['reason']
  | SshSpaRefusal['reason']
  | 'busy'
  | 'replay-store-full'
  | 'replay-store-error'
  | 'gate-error'
  | 'command-failed'
  | 'close-request';

export interface SpaStats {
  port: number;
  sensor: string;
  received: number;
  granted: number;
  refused: Partial<Record<SpaRefusalKind, number>>;
  logsSuppressed: number;
  replay: { store: string; digests: number; bound: number };
}

export interface SpaServiceOptions {
  config: SpaConfig;
  /** The gate a door's grants go through (the one its `gate` names). */
  gateFor(door: Pick<SpaDoorConfig, 'gate'>): Gate;
  replay: ReplayStore;
  /** Where grants go: the daemon's desk, so knock and SPA grants share one bound and one live map. */
  desk: GrantDesk;
  /** A sensor of its own (the UDP socket); absent = packets come from the daemon's capture. */
  sensor?: Sensor;
  logger: Logger;
  outcomes?: Outcomes;
  now?: () => number;
  /** Checks every door's HMAC of a packet at once (the native screen); absent, each codec checks its own. */
  hmacScreen?: HmacScreenFactory;
  /**
   * Where the service hands the daemon's capture its HMAC screen each time its doors change, so the
   * addon refuses bad-HMAC datagrams before JavaScript sees them (undefined: it may not; see
   * captureScreen). Absent: every packet reaches onPacket.
   */
  captureScreen?: (screen: SpaCaptureScreen | undefined) => void;
  /** Reads an SSH-key door's key pair and key ring; its files or texts by default (store/ssh-key-ring.ts). */
  readSshKeys?: (files: SshKeyDoorFiles) => { key: DoorPrivateKey; ring: SshKeyRing };
}

interface Door {
  config: SpaDoorConfig;
}

/** A door as matching sees it, built once per reload rather than once per packet. */
type DoorCandidate = SpaDoorCandidate<Door>;

/**
 * The SPA server: for each packet on the SPA port, fwknopd's order with the cheap checks first —
 * size, a door for this source, the replay digest in memory — then each candidate door's codec
 * (HMAC before decryption), the replay digest made durable, the access policy, and the gate.
 */
export class SpaService implements Reconfigurable<SpaConfig | undefined> {
  private doors: DoorCandidate[] = [];
  private screen: HmacScreen | undefined;
  /** SSH-key doors by door id: a packet names its door, so finding it is one lookup. */
  private sshDoors = new Map<number, SshSpaDoorCandidate<Door>>();
  /** No door limits sources or destinations: every door is a candidate and no packet needs filtering. */
  private doorsOpenToAll = true;
  /** The longest timestamp window of the fwknop doors, in ms; undefined when one has none (digests kept for ever). */
  private longestWindowMs: number | undefined = 0;
  /** The longest packet some door tries (longer only for doors that run commands, as fwknopd). */
  private maxPacketLength = MAX_PACKET_CHARS;
  private config: SpaConfig;
  private pending = 0;
  private readonly commands = new CommandPool(MAX_RUNNING_COMMANDS, MAX_QUEUED_COMMANDS);
  private readonly counters = { received: 0, granted: 0, logsSuppressed: 0 };
  private readonly refused: Partial<Record<SpaRefusalKind, number>> = {};
  private logWindow = { second: 0, lines: 0, suppressed: 0 };
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly outcomes: Outcomes;

  constructor(private readonly opts: SpaServiceOptions) {
    this.config = opts.config;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.outcomes = opts.outcomes ?? NO_OUTCOMES;
    this.setDoors(opts.config);
  }

  get port(): number {
    return this.config.sensor.port;
  }

  /** The ports the daemon's capture must watch for SPA (none when the UDP socket receives). */
  capturePorts(): PortSpec[] {
    return this.opts.sensor ? [] : [{ proto: 'udp', port: this.config.sensor.port }];
  }

  /** Whether a captured packet is for SPA rather than the knock tracker. */
  handles(packet: KnockPacket): boolean {
    return !this.opts.sensor && packet.proto === 'udp' && packet.dstPort === this.config.sensor.port;
  }

  async start(): Promise<void> {
    await this.opts.sensor?.start((packet) => this.onPacket(packet));
    this.log.info(
      { sensor: this.opts.sensor?.name ?? 'pcap', port: this.port, doors: [...this.doors, ...this.sshDoors.values()].map((d) => d.rules.door), replay_store: this.opts.replay.name },
      `SPA: ${this.doors.length + this.sshDoors.size} door(s) on udp/${this.port}`,
    );
  }

  async stop(): Promise<void> {
    await this.opts.sensor?.stop();
    await this.opts.replay.close();
  }

  /** New doors and rules from a reload; sensor and replay store stay as they were started. */
  reconfigure(next: SpaConfig | undefined): void {
    if (!next) {
      this.setDoors({ ...this.config, doors: [] });
      return;
    }
    if (next.sensor.kind !== this.config.sensor.kind || next.sensor.port !== this.config.sensor.port) {
      this.log.warn({ outcome: 'restart-needed' }, 'SPA sensor or port changed: restart knockgate to apply it');
    }
    this.setDoors({ ...next, sensor: this.config.sensor });
  }

  stats(): SpaStats {
    return {
      port: this.port,
      sensor: this.opts.sensor?.name ?? 'pcap',
      ...this.counters,
      refused: { ...this.refused },
      replay: { store: this.opts.replay.name, ...this.opts.replay.stats() },
    };
  }

  /**
   * Hot path. Synchronous up to the replay store's write; never throws. Reads the payload only
   * before its first await (a captured payload is only valid during this call).
   */
  onPacket(packet: KnockPacket): void {
    this.counters.received++;
    const payload = packet.payload;
    const origin: SpaPacketOrigin = this.opts.sensor ? { src: packet.src } : { src: packet.src, dst: packet.dst };
    // One byte tells the formats apart: an SSH-key packet starts with 0x00, fwknop's are base64 text.
    if (isSshSpaPacket(payload)) return this.onSshKeyPacket(packet, payload, origin);
    if (payload.length < MIN_PACKET_CHARS || payload.length > this.maxPacketLength) {
      this.refuse('malformed', packet, `${payload.length} bytes is outside ${MIN_PACKET_CHARS}..${this.maxPacketLength}`);
      return;
    }
    const now = this.now();
    const candidates = this.doorsOpenToAll ? this.doors : this.doors.filter((d) => originAllowed(d.rules, origin) === undefined);
    if (candidates.length === 0) {
      this.refuse('source-not-allowed', packet, 'no SPA door accepts this source');
      return;
    }
    const digest = spaReplayDigest(payload);
    if (this.opts.replay.seen(digest, now)) {
      this.refuse('replay', packet, 'replay detected: this packet was already used');
      return;
    }

    // With a screen the HMAC is known to match before decryption: the digest starts on its way to
    // disk then, and decryption runs while it goes (the grant still waits for it). Its expiry is the
    // latest any door's window allows, as the timestamp is not read yet.
    let early: Promise<RememberOutcome> | undefined;
    const startEarly = this.pending < MAX_PENDING_SPA ? () => (early = this.opts.replay.remember(digest, this.authenticExpiry(now), now)) : undefined;
    const match = matchSpaDoor(payload, origin, candidates, now, this.screen, startEarly);
    if (!match.decoded) {
      // Decoded after all or not, a packet whose HMAC matched stays used, as fwknopd marks one that decrypts.
      void early?.catch(() => undefined);
      if (match.refusal) this.refuse(match.refusal.reason, packet, match.refusal.detail, match.refusal.door);
      else if (match.error) this.refuseUndecoded(match.error, packet);
      else this.refuse('malformed', packet, 'not an SPA packet');
      return;
    }
    this.admit(packet, digest, { ...match, identity: { kind: 'door', door: match.door.config.rules.door } }, now, early);
  }

  /**
   * The digest expiry for a packet whose timestamp is not read yet: an accepted packet's timestamp
   * lies within its door's window of now, so now + twice the longest window outlasts replayExpiry's.
   */
  private authenticExpiry(now: number): number {
    return replayExpiry(now / 1000, this.longestWindowMs === undefined ? undefined : 2 * this.longestWindowMs);
  }

  /** A packet the capture refused for its HMAC and handed up as a sample: counted and logged as onPacket would. */
  private onScreenedPacket(packet: KnockPacket): void {
    this.counters.received++;
    this.refuse('bad-hmac', packet, BAD_HMAC.message);
  }

  /** Packets the capture refused for their HMAC without handing them up: counted, and summed up in the suppressed-lines line. */
  private onScreenedCount(count: number): void {
    this.counters.received += count;
    this.refused['bad-hmac'] = (this.refused['bad-hmac'] ?? 0) + count;
    this.outcomes.count('refused', { reason: 'bad-hmac', spa: true }, undefined, count);
    this.logWindowAt(Math.floor(this.now() / 1000));
    this.logWindow.suppressed += count;
    this.counters.logsSuppressed += count;
  }

  /**
   * What the capture may refuse before any JavaScript object is made: the bad-HMAC packets, and
   * only when that is the refusal onPacket would give each. So every fwknop door's key must be in
   * the screen (a door without an HMAC key is tried by decryption), no door may limit sources or
   * destinations (that refusal comes first), and packets come from the daemon's capture. The
   * replay check comes before the HMAC in onPacket, but a digest is remembered only once a key
   * matched: the one packet counted as a bad HMAC rather than a replay is a replayed one made for
   * keys a reload has since replaced (refused either way).
   */
  private screenForCapture(): SpaCaptureScreen | undefined {
    const screen = this.screen;
    if (this.opts.sensor || !screen || !this.doorsOpenToAll || this.doors.some((d, i) => d.screenSlot !== i)) return undefined;
    return {
      port: this.port,
      screen,
      doors: this.doors.map(({ codec, rules }) => {
        const { min, max } = codec.triedLengths;
        return { minLength: min, maxLength: max, expiresAt: rules.expiresAt === undefined ? -1 : Math.floor(rules.expiresAt / 1000) };
      }),
      refused: (packet) => this.onScreenedPacket(packet),
      refusedUnseen: (count) => this.onScreenedCount(count),
    };
  }

  /** An SSH-key packet: the core's one decision (door, pre-auth MAC, replay, signer), then the same rules and replay store. */
  private onSshKeyPacket(packet: KnockPacket, payload: Uint8Array, origin: SpaPacketOrigin): void {
    const now = this.now();
    const match = decideSshSpaPacket(payload, origin, this.sshDoors, this.opts.replay, now);
    if (match.decoded) return this.admit(packet, match.digest, match, now);
    if (match.refusal) return this.refuse(match.refusal.reason, packet, match.refusal.detail, match.refusal.door, undefined, false, match.identity);
    this.refuseUndecoded(match.error, packet);
  }

  private refuseUndecoded(error: SpaError, packet: KnockPacket): void {
    this.refuse(undecodedReason(error), packet, error.message);
  }

  /** A packet some door decoded: the pending bound, the digest made durable, then the decision. */
  private admit(packet: KnockPacket, digest: string, match: SpaDecodedPacket<Door> & { identity: Identity }, now: number, remembering?: Promise<RememberOutcome>): void {
    const { door, spa, decision, identity } = match;
    if (this.pending >= MAX_PENDING_SPA) {
      this.refuse('busy', packet, `${MAX_PENDING_SPA} SPA requests already in flight`);
      return;
    }
    // fwknopd marks a packet used as soon as it decrypts, whatever the later checks say.
    const ageWindow = door.config.rules.maxPacketAgeMs;
    this.pending++;
    (remembering ?? this.opts.replay.remember(digest, replayExpiry(spa.timestamp, ageWindow), now))
      .then(async (outcome) => {
        if (outcome === 'replay') return this.refuse('replay', packet, 'replay detected: this packet was already used', door.config.rules.door, undefined, false, identity);
        if (outcome === 'full') return this.refuse('replay-store-full', packet, 'replay store is full of live digests; refusing rather than forgetting one');
        if (!decision.ok) return this.refuse(decision.reason, packet, decision.detail, decision.door, spa.username, false, identity);
        if (decision.kind === 'command') return this.runCommand(decision.door, decision.src, decision.command, packet);
        // The daemon uses a one-shot grant up at its first connection; a client's close request is the HTTPS receiver's.
        if (decision.kind === 'close') return this.refuse('close-request', packet, 'a close request is for the HTTPS receiver; this daemon closes one-shot grants at their first connection', decision.door, spa.username, false, identity);
        return this.grant(door.config, decision, packet, identity);
      })
      .catch((err: unknown) => this.refuse('replay-store-error', packet, describeError(err)))
      .finally(() => {
        this.pending--;
      });
  }

  private async grant(door: SpaDoorConfig, decision: SpaGrantDecision, packet: KnockPacket, identity: Identity): Promise<void> {
    const grant = { ...scopedGrant(grantForSpa(decision, this.now()), door.scope), identity };
    const result = await this.opts.desk.open({ grant, gate: this.opts.gateFor(door), askedAt: packet.time, via: 'spa', fields: { from: packet.src } });
    // The desk has counted these; the refusal line and SPA's own totals are still this service's.
    if (result.outcome === 'refused') return this.refuse('busy', packet, result.detail, decision.door, undefined, true, identity);
    if (result.outcome === 'gate-error') return this.refuse('gate-error', packet, describeError(result.err), decision.door, undefined, true, identity);
    this.counters.granted++;
  }

  private async runCommand(door: string, src: string, command: string, packet: KnockPacket): Promise<void> {
    // fwknopd splits the text on whitespace and runs it without a shell; so does this.
    const argv = command.trim().split(/\s+/) as [string, ...string[]];
    const run = this.commands.trySubmit(() => runCommand({ argv }, { timeoutMs: COMMAND_TIMEOUT_MS }));
    if (!run) return this.refuse('busy', packet, 'too many SPA commands waiting', door);
    try {
      const result = await run;
      const output = { stdout: logged(result.stdout), stderr: logged(result.stderr) };
      if (result.code !== 0) {
        this.log.info({ door, src, outcome: 'command-failed', argv, ...output }, `${src}: ${door}: SPA command failed`);
        return this.refuse('command-failed', packet, `exit ${result.code ?? result.signal}${result.timedOut ? ' (timed out)' : ''}`, door);
      }
      this.counters.granted++;
      this.outcomes.count('command', { door });
      this.log.info({ door, src, outcome: 'command', argv, ...output }, `${src}: ${door}: SPA command ran`);
    } catch (err) {
      this.refuse('command-failed', packet, describeError(err), door);
    }
  }

  private refuse(kind: SpaRefusalKind, packet: KnockPacket, detail: string, door?: string, username?: string, countedByDesk = false, identity?: Identity): void {
    this.refused[kind] = (this.refused[kind] ?? 0) + 1;
    if (!countedByDesk) this.outcomes.count('refused', { reason: kind, spa: true, ...(door && { door }) }, packet.src);
    this.logWindowAt(Math.floor(this.now() / 1000));
    if (this.logWindow.lines >= MAX_REFUSAL_LOGS_PER_SECOND) {
      this.logWindow.suppressed++;
      this.counters.logsSuppressed++;
      return;
    }
    this.logWindow.lines++;
    this.log.info(
      { src: packet.src, ...(door && { door }), ...(username !== undefined && { username }), ...(identity && { identity: describeIdentity(identity) }), outcome: 'refused', reason: kind, detail },
      `${packet.src}: SPA refused (${kind}): ${detail}`,
    );
  }

  /** Moves the refusal log's window to `second`, with one line for what the last one left unlogged. */
  private logWindowAt(second: number): void {
    if (second === this.logWindow.second) return;
    if (this.logWindow.suppressed > 0) {
      this.log.warn({ outcome: 'refused', suppressed: this.logWindow.suppressed }, `SPA: ${this.logWindow.suppressed} more refusal(s) not logged in the last second`);
    }
    this.logWindow = { second, lines: 0, suppressed: 0 };
  }

  /** Reads every SSH-key door's files before anything changes, so a bad file leaves the doors as they were. */
  private setDoors(config: SpaConfig): void {
    const sshDoors = sshKeyDoorsById(config.doors, (d): Door => ({ config: d }), this.opts.readSshKeys);
    this.config = config;
    this.sshDoors = sshDoors;
    const screened = screenSpaDoors(
      config.doors.flatMap((d) => (d.keys ? [{ door: { config: d }, codec: new SpaCodec(d.keys, { longPackets: d.rules.commands }), rules: d.rules }] : [])),
      this.opts.hmacScreen,
    );
    this.doors = screened.candidates;
    this.screen = screened.screen;
    this.maxPacketLength = Math.max(MAX_PACKET_CHARS, ...this.doors.map((d) => d.codec.maxPacketLength));
    this.doorsOpenToAll = this.doors.map((d) => d.door.config).every((d) => d.rules.sources.length === 0 && d.rules.destinations.length === 0);
    const windows = this.doors.map((d) => d.rules.maxPacketAgeMs);
    this.longestWindowMs = windows.includes(undefined) ? undefined : Math.max(0, ...(windows as number[]));
    this.opts.captureScreen?.(this.screenForCapture());
  }
}

function logged(text: string): string {
  return text.length <= MAX_COMMAND_OUTPUT_LOG_CHARS ? text : `${text.slice(0, MAX_COMMAND_OUTPUT_LOG_CHARS)}… (${text.length - MAX_COMMAND_OUTPUT_LOG_CHARS} more characters)`;
}
