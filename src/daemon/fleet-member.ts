import type { FleetSettings } from '../config/model.js';
import type { Grant } from '../core/grant.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import type { FleetGrant, GrantLedger, LedgerEvent, LedgerState } from '../store/grant-ledger.js';
import type { GrantDesk, GrantListener, LiveGrant } from './grant-desk.js';

/**
 * Grants made here while the ledger is unreachable, published when it is back (one per grant id:
 * an extension replaces the entry). An outage under a knock flood would otherwise hold every
 * grant in memory; past this the oldest is dropped from the queue, stays open here until it
 * expires and is closed by the reconcile after the reconnect (the fleet does not hold it).
 */
export const MAX_QUEUED_PUBLISHES = 1_024;
/** How often a member says it is alive; HEARTBEAT_TTL_MS (three of these) later it is gone from the list. */
export const HEARTBEAT_INTERVAL_MS = 5_000;

export interface FleetStatus {
  fleet: string;
  member: string;
  redis: LedgerState;
  /** Why the fleet's own view could not be read (Redis unreachable); members and grants are then empty. */
  error?: string;
  members: Array<{ member: string; lastHeartbeatMsAgo: number }>;
  /** The fleet's live grants, with the member that made each. */
  grants: Array<{ src: string; door: string; ports: string[]; gate: string; member: string; expiresInMs: number }>;
  /** Grants made here waiting for Redis, and those the queue's bound dropped. */
  queued: number;
  queueDropped: number;
}

export interface FleetMemberOptions {
  settings: FleetSettings;
  ledger: GrantLedger;
  desk: GrantDesk;
  logger: Logger;
  outcomes?: Outcomes;
  now?: () => number;
}

/**
 * This bastion's part in a fleet: every grant its desk makes is published on the ledger, every
 * grant another member publishes opens through its desk, and whenever the ledger comes up (the
 * start, a reconnect) the queued grants go out and the desk reconciles with the fleet's live
 * grants. While the ledger is down the desk keeps working alone; SPA is refused by the replay
 * store (the digests live on the same Redis).
 */
export class FleetMember implements GrantListener {
  private readonly queue = new Map<string, FleetGrant>();
  private queueDropped = 0;
  /** Catch-ups run one after another: a flapping link never has two reconciles at once. */
  private syncing: Promise<void> = Promise.resolve();
  private heartbeatTimer?: NodeJS.Timeout;
  /** The fleet's epoch when last seen: a new one means Redis lost its data and this member's grants are published again. */
  private epoch: string | undefined;
  private readonly log: Logger;
  private readonly outcomes: Outcomes;
  private readonly now: () => number;

  constructor(private readonly opts: FleetMemberOptions) {
    this.log = opts.logger;
    this.outcomes = opts.outcomes ?? NO_OUTCOMES;
    this.now = opts.now ?? Date.now;
  }

  get member(): string {
    return this.opts.settings.member;
  }

  /** Resolves once the first reconcile ran, or at once when the ledger is unreachable (it comes later). */
  async start(): Promise<void> {
    this.opts.desk.listen(this);
    await this.opts.ledger.start(
      (e) => this.onEvent(e),
      (s) => this.onState(s),
    );
    if (this.opts.ledger.state === 'down') this.onState('down');
    this.heartbeatTimer = setInterval(() => void this.beat(), HEARTBEAT_INTERVAL_MS);
    this.heartbeatTimer.unref();
    await this.syncing;
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await this.syncing;
    await this.opts.ledger.close();
  }

  /** Waits for the catch-up under way (tests, and status right after a reconnect). */
  settled(): Promise<void> {
    return this.syncing;
  }

  opened(live: LiveGrant): void {
    const entry: FleetGrant = { grant: live.grant, gate: live.gate, member: this.member };
    if (this.opts.ledger.state === 'down') return this.enqueue(entry);
    this.opts.ledger.publish(entry, this.now()).then(
      (outcome) => {
        if (outcome === 'full') this.logFull(entry.grant);
      },
      () => this.enqueue(entry),
    );
  }

  revoked(grant: Grant): void {
    this.queue.delete(grant.id);
    this.opts.ledger.withdraw(grant.id, this.member).catch((err: unknown) => {
      this.log.warn(
        { door: grant.door, src: grant.src, outcome: 'fleet-error', err: describeError(err) },
        `${grant.src}: ${grant.door}: revoked here only: the fleet's Redis did not take the revoke, so the other members keep the grant until it expires`,
      );
    });
  }

  async status(): Promise<FleetStatus> {
    const now = this.now();
    const base = { fleet: this.opts.settings.name, member: this.member, redis: this.opts.ledger.state, queued: this.queue.size, queueDropped: this.queueDropped };
    try {
      const [members, live] = await Promise.all([this.opts.ledger.members(now), this.opts.ledger.live(now)]);
      return {
        ...base,
        members: members.map((m) => ({ member: m.member, lastHeartbeatMsAgo: Math.max(0, now - m.at) })),
        grants: live.map((e) => ({ src: e.grant.src, door: e.grant.door, ports: e.grant.ports.map((p) => `${p.port}/${p.proto}`), gate: e.gate, member: e.member, expiresInMs: e.grant.expiresAt - now })),
      };
    } catch (err) {
      return { ...base, error: describeError(err), members: [], grants: [] };
    }
  }

  private onEvent(event: LedgerEvent): void {
    // Redis tells the publisher too: its own grants are in its desk already.
    if ((event.kind === 'revoke' ? event.member : event.entry.member) === this.member) return;
    if (event.kind === 'revoke') {
      void this.opts.desk.revoke({ id: event.id }, { fromFleet: true }).catch((err: unknown) => this.logGateError(event.id, err));
      return;
    }
    const { entry } = event;
    void this.opts.desk.openFromFleet(entry)?.then((result) => {
      if (result.outcome === 'gate-error') this.logGateError(entry.grant.id, result.err);
    });
  }

  private onState(state: LedgerState): void {
    if (state === 'up') {
      this.syncing = this.syncing.then(() => this.catchUp());
      return;
    }
    this.outcomes.count('fleet-unreachable');
    const reason = this.opts.ledger.downReason;
    this.log.error(
      { fleet: this.opts.settings.name, member: this.member, outcome: 'fleet-unreachable', ...(reason !== undefined && { err: reason }) },
      `fleet ${this.opts.settings.name}: Redis is unreachable${reason !== undefined ? ` (${reason})` : ''}: SPA packets are refused (a replay at another member cannot be ruled out); knock doors open here only and are published when Redis is back; grants already open stay until they expire`,
    );
  }

  /** Queued grants out, then the desk in line with the fleet. A failure waits for the next reconnect. */
  private async catchUp(): Promise<void> {
    const { ledger, desk } = this.opts;
    try {
      const epoch = await ledger.epoch();
      // Redis came back without the fleet's data: what this member made goes back to it, and a
      // grant missing from it says nothing of a revoke (the others are putting theirs back too).
      const lost = this.epoch !== undefined && epoch !== this.epoch;
      if (lost) for (const l of desk.madeHere(this.member)) this.queue.set(l.grant.id, { grant: l.grant, gate: l.gate, member: this.member });
      this.epoch = epoch;
      const published = this.queue.size;
      for (const [id, entry] of [...this.queue]) {
        if (entry.grant.expiresAt > this.now() && (await ledger.publish(entry, this.now())) === 'full') this.logFull(entry.grant);
        this.queue.delete(id);
      }
      const live = await ledger.live(this.now());
      const { opened, dropped } = await desk.reconcile(live, this.now(), { keepMissing: lost });
      await this.beat();
      this.outcomes.count('fleet-reconciled');
      this.log.info(
        { fleet: this.opts.settings.name, member: this.member, outcome: 'fleet-reconciled', fleet_grants: live.length, opened, dropped, published },
        `fleet ${this.opts.settings.name}: connected as ${this.member}: ${live.length} live grant(s) in the fleet, ${opened} opened here, ${dropped} closed here, ${published} published`,
      );
    } catch (err) {
      this.log.warn({ fleet: this.opts.settings.name, outcome: 'fleet-error', err: describeError(err) }, `fleet ${this.opts.settings.name}: catching up failed: ${describeError(err)}; retried when Redis is back`);
    }
  }

  private async beat(): Promise<void> {
    if (this.opts.ledger.state === 'up') await this.opts.ledger.heartbeat(this.member, this.now()).catch(() => undefined);
  }

  private enqueue(entry: FleetGrant): void {
    const now = this.now();
    this.queue.delete(entry.grant.id);
    for (const [id, e] of this.queue) if (e.grant.expiresAt <= now) this.queue.delete(id);
    if (this.queue.size >= MAX_QUEUED_PUBLISHES) {
      const [oldest] = this.queue.keys();
      this.queue.delete(oldest!);
      this.queueDropped += 1;
      this.outcomes.count('fleet-queue-full');
      // One line per outage would hide how many; one per drop is bounded by the knock rate the desk allows.
      this.log.warn({ outcome: 'fleet-queue-full', bound: MAX_QUEUED_PUBLISHES, dropped: this.queueDropped }, `fleet: ${MAX_QUEUED_PUBLISHES} grants already wait for Redis; the oldest will not reach the fleet`);
    }
    this.queue.set(entry.grant.id, entry);
    this.outcomes.count('fleet-queued', { door: entry.grant.door });
    this.log.info(
      { door: entry.grant.door, src: entry.grant.src, outcome: 'fleet-queued', queued: this.queue.size },
      `${entry.grant.src}: ${entry.grant.door}: open here only while the fleet's Redis is unreachable; published to the fleet when it is back`,
    );
  }

  private logFull(grant: Grant): void {
    this.outcomes.count('fleet-full', { door: grant.door });
    this.log.warn({ door: grant.door, src: grant.src, outcome: 'fleet-full' }, `${grant.src}: ${grant.door}: open here only: the fleet holds its bound of live grants`);
  }

  private logGateError(id: string, err: unknown): void {
    this.log.error({ grant: id, outcome: 'gate-error', err: describeError(err) }, `fleet grant ${id}: the gate failed: ${describeError(err)}`);
  }
}
