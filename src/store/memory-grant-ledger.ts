import { StoreError } from './grant-store.js';
import { HEARTBEAT_TTL_MS, MAX_FLEET_GRANTS, type FleetGrant, type GrantLedger, type LedgerEvent, type LedgerState, type MemberBeat, type PublishOutcome } from './grant-ledger.js';

/**
 * One fleet's shared state in memory: what Redis holds for a real fleet. Each member takes its
 * own ledger from it (`ledger()`); `down()` and `up()` make it unreachable and back, as a Redis
 * that stops and restarts (`up(true)`: empty, as one without persistence).
 */
export class MemoryFleet {
  readonly grants = new Map<string, FleetGrant>();
  readonly beats = new Map<string, number>();
  private readonly ledgers = new Set<MemoryGrantLedger>();
  reachable = true;
  epoch = 1;

  constructor(readonly bound = MAX_FLEET_GRANTS) {}

  ledger(): MemoryGrantLedger {
    const l = new MemoryGrantLedger(this);
    this.ledgers.add(l);
    return l;
  }

  down(): void {
    this.reachable = false;
    for (const l of this.ledgers) l.setState('down');
  }

  up(empty = false): void {
    if (empty) {
      this.epoch += 1;
      this.grants.clear();
      this.beats.clear();
    }
    this.reachable = true;
    for (const l of this.ledgers) l.link(l.linked);
  }

  /** Every member but the sender hears it, as a Redis channel's subscribers do. */
  tell(from: MemoryGrantLedger, event: LedgerEvent): void {
    for (const l of this.ledgers) if (l !== from) l.hear(event);
  }

  forget(l: MemoryGrantLedger): void {
    this.ledgers.delete(l);
  }
}

/** A member's handle on a MemoryFleet: the GrantLedger double of the fast tests. */
export class MemoryGrantLedger implements GrantLedger {
  readonly name = 'memory';
  state: LedgerState = 'down';
  private onEvent: (event: LedgerEvent) => void = () => undefined;
  private onState: (state: LedgerState) => void = () => undefined;
  private started = false;
  /** This member's own link, apart from the fleet's: `link(false)` cuts only this member off. */
  linked = true;

  constructor(private readonly fleet: MemoryFleet) {}

  async start(onEvent: (event: LedgerEvent) => void, onState: (state: LedgerState) => void): Promise<void> {
    this.onEvent = onEvent;
    this.onState = onState;
    this.started = true;
    this.setState(this.fleet.reachable && this.linked ? 'up' : 'down');
  }

  link(up: boolean): void {
    this.linked = up;
    this.setState(up && this.fleet.reachable ? 'up' : 'down');
  }

  setState(state: LedgerState): void {
    if (!this.started || state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  hear(event: LedgerEvent): void {
    if (this.started && this.state === 'up') this.onEvent(event);
  }

  async publish(entry: FleetGrant, now: number): Promise<PublishOutcome> {
    this.reach();
    this.prune(now);
    const old = this.fleet.grants.get(entry.grant.id);
    if (!old && this.fleet.grants.size >= this.fleet.bound) return 'full';
    if (old && old.grant.expiresAt >= entry.grant.expiresAt) return 'kept-longer';
    this.fleet.grants.set(entry.grant.id, structuredClone(entry));
    this.fleet.tell(this, { kind: 'grant', entry: structuredClone(entry) });
    return 'published';
  }

  async epoch(): Promise<string> {
    this.reach();
    return String(this.fleet.epoch);
  }

  async withdraw(id: string, member: string): Promise<void> {
    this.reach();
    this.fleet.grants.delete(id);
    this.fleet.tell(this, { kind: 'revoke', id, member });
  }

  async live(now: number): Promise<FleetGrant[]> {
    this.reach();
    this.prune(now);
    return [...this.fleet.grants.values()].map((e) => structuredClone(e));
  }

  async heartbeat(member: string, now: number): Promise<void> {
    this.reach();
    this.fleet.beats.set(member, now);
  }

  async members(now: number): Promise<MemberBeat[]> {
    this.reach();
    return [...this.fleet.beats]
      .filter(([, at]) => at > now - HEARTBEAT_TTL_MS)
      .map(([member, at]) => ({ member, at }))
      .sort((a, b) => b.at - a.at);
  }

  async close(): Promise<void> {
    this.started = false;
    this.fleet.forget(this);
  }

  private reach(): void {
    if (!this.fleet.reachable || !this.linked) throw new StoreError('the fleet ledger is unreachable');
  }

  private prune(now: number): void {
    for (const [id, e] of this.fleet.grants) if (e.grant.expiresAt <= now) this.fleet.grants.delete(id);
  }
}
